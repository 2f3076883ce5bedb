"""Every kind of page is valid HTML by the Nu Html Checker (vnu.jar, the W3C's checker), errors only.

The pages are fetched through the real app as each person sees them (public pages anonymously,
staff pages signed in), written to files and checked in one run of the checker. ``make tools``
installs vnu.jar from the npm registry into .venv-tools; it runs on the machine's Java. Without
Java the test is skipped; without the jar it is skipped too, except in CI (``CI=true``), where
``make tools`` must have installed it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from reviewflow.extensions import db
from reviewflow.reviews import services as reviews
from reviewflow.sources import services as sources
from tests.factories import CHECKLIST, PASSWORD, make_article
from tests.sources.test_sources_api import CITED

ROOT = Path(__file__).resolve().parent.parent
JAR = Path(os.environ.get("REVIEWFLOW_TOOLS_VENV", ROOT / ".venv-tools")) / "node_modules" / "vnu-jar" / "build" \
    / "dist" / "vnu.jar"


def _checker() -> list[str]:
    java = shutil.which("java")
    if java is None:
        pytest.skip("no Java on this machine: the Nu Html Checker runs on it")
    if not JAR.exists():
        if os.environ.get("CI", "").lower() == "true" and shutil.which("npm"):
            pytest.fail(f"{JAR} is missing: CI must run `make tools` (it installs vnu-jar from npm)")
        pytest.skip(f"{JAR} is missing: `make tools` installs it when npm is there")
    return [java, "-jar", str(JAR), "--errors-only", "--format", "json"]


def test_every_kind_of_page_is_valid_html(app, client, login, cast, tmp_path):
    checker = _checker()
    live = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], body=CITED,
                        title="Winter eczema")
    for key in ("aad", "nhs"):
        sources.check_source(cast["rev"], live, 1, key, "supports")
    reviews.sign_decision(cast["rev"], live, 1, "approve", PASSWORD, checklist=CHECKLIST)
    from reviewflow.publishing import services as publishing
    publishing.publish_revision(cast["editor"], live, 1, "First published.")
    review = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], body=CITED,
                          title="Sun safety")
    sources.check_source(cast["rev"], review, 1, "nhs", "does_not_support", "Says nothing about sunscreen.")
    reviews.add_annotation(cast["rev"], review, 1, "Moisturize within three minutes of bathing.", "Cite it.", True)
    asked = make_article(cast["writer"], "changes_requested", reviewer=cast["rev"], editor=cast["editor"],
                         title="Hay fever")
    from reviewflow.articles import services as articles
    articles.save_revision(cast["writer"], asked, asked.revision.title, asked.revision.body + "\n\nMore.", 1, "Done.")
    db.session.commit()
    pages = {
        None: ["/articles", f"/articles/{live.slug}", f"/articles/{live.slug}/v1", "/reviewers",
               f"/reviewers/{cast['rev'].id}", f"/writers/{cast['writer'].id}", "/about/medical-review", "/login",
               "/articles/no-such-article", "/password/forgot", "/password/forgot/sent", "/invitations/no-such-link"],
        "writer": ["/dashboard", f"/work/articles/{review.id}", f"/work/articles/{review.id}/edit",
                   "/work/articles/new", f"/work/articles/{review.id}/history", f"/work/articles/{asked.id}/resubmit",
                   "/account", "/account/preferences"],
        "rev": ["/reviews", f"/work/articles/{review.id}/review", f"/work/articles/{review.id}/sign?decision=approve"],
        "editor": ["/dashboard", "/work/articles", f"/work/articles/{live.id}", f"/work/articles/{review.id}/assign",
                   f"/work/articles/{live.id}/versions/1/certificate", "/audit"],
        "admin": ["/admin/users", "/admin/mail", "/admin/site", "/admin/webhooks", "/admin/invitations",
                  "/admin/invitations/new"],
    }
    people = {who: SimpleNamespace(email=cast[who].email) for who in pages if who is not None}
    files = []
    for who, paths in pages.items():
        if who is not None:
            client.post("/logout")
            db.session.expunge_all()
            login(people[who])
        for path in paths:
            db.session.expunge_all()  # as in production, each request loads its own objects
            response = client.get(path)
            expected = 404 if "/no-such-" in path else 200  # the not-found pages are checked too
            assert response.status_code == expected, (who, path, response.status_code)
            assert response.mimetype == "text/html", (who, path)
            name = tmp_path / f"{who or 'reader'}-{len(files):02d}.html"
            name.write_bytes(response.data)
            files.append((name, who, path))
    done = subprocess.run([*checker, *(str(f) for f, _, _ in files)], capture_output=True, text=True, timeout=300)
    messages = json.loads(done.stderr or "{}").get("messages", [])
    where = {str(f.as_uri()): f"{who or 'reader'} {path}" for f, who, path in files}
    errors = [f"{where.get(m.get('url'), m.get('url'))}: line {m.get('lastLine')}: {m.get('message')}"
              for m in messages if m.get("type") == "error"]
    assert not errors, "\n".join(errors)
    assert done.returncode == 0, done.stderr[-2000:]
