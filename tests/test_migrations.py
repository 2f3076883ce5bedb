"""The Alembic migrations build exactly the schema the models describe, guards included.

Each test starts from an empty database (a new SQLite file, or PostgreSQL's ``public``
schema dropped and recreated), runs ``flask db upgrade`` through Flask-Migrate, and then
asks Alembic's autogenerate to compare the result with the models: any difference means a
model changed without a migration.

``test_upgrade_of_a_database_made_by_the_previous_release_keeps_the_chain_verifying`` fills a
database with the previous release's own code (taken from git: the parent of the commit that
added the newest migration), then upgrades it with this one.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from reviewflow.extensions import db
from tests.factories import make_app

PG_URL = os.environ.get("REVIEWFLOW_TEST_DATABASE_URL", "")


@pytest.fixture
def empty_app(tmp_path):
    """An app bound to an empty database: no tables, no create_all."""
    url = PG_URL or f"sqlite:///{tmp_path / 'migrated.db'}"
    application = make_app(url)
    with application.app_context():
        if url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        assert inspect(db.engine).get_table_names() == []
        yield application
        db.session.remove()
        db.engine.dispose()


def _differences(app) -> list:
    """What autogenerate would write into a new migration, with the app's own comparison options."""
    opts = dict(app.extensions["migrate"].configure_args)
    opts.pop("process_revision_directives", None)
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=opts)
        return compare_metadata(context, db.metadata)


def test_upgrade_creates_every_table_of_the_models(empty_app):
    upgrade()
    tables = set(inspect(db.engine).get_table_names())
    assert set(db.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_migrations_and_models_agree(empty_app):
    upgrade()
    assert _differences(empty_app) == []


def test_migrations_set_compare_type_so_type_changes_are_caught(empty_app):
    """The comparison above is only meaningful if column types are compared too."""
    assert empty_app.extensions["migrate"].configure_args.get("compare_type") is True


def test_migration_attaches_audit_guards_and_chain_head(empty_app):
    upgrade()
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "sqlite":
            triggers = set(conn.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'")).scalars())
            assert {"audit_events_no_update", "audit_events_no_delete"} <= triggers
        else:
            triggers = set(conn.execute(text(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_events'::regclass AND NOT tgisinternal"
            )).scalars())
            assert {"audit_events_no_update", "audit_events_no_truncate"} <= triggers
        head = conn.execute(text("SELECT id, seq, hash FROM audit_head")).all()
    assert [tuple(r) for r in head] == [(1, 0, "0" * 64)]


def test_migrated_database_refuses_to_rewrite_events(empty_app):
    """The guards written by the migration work, not only the ones create_all attaches in tests."""
    from reviewflow.audit import services as audit

    upgrade()
    audit.record("site.setting_changed", details={"n": 1})
    db.session.commit()
    for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError), db.engine.begin() as conn:
            conn.execute(text(statement))
    assert audit.verify(record_result=False).ok


def test_downgrade_to_base_and_upgrade_again(empty_app):
    upgrade()
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade()
    assert _differences(empty_app) == []


ROOT = Path(__file__).resolve().parent.parent
#: Run by the previous release, in its own tree: users, a published article (signed approval, a
#: cited source), a draft with two revisions and an API token, at that release's newest migration.
PREVIOUS_RELEASE_DATA = """
import json, sys
import config
from flask_migrate import upgrade
from reviewflow import create_app
from reviewflow.auth import services as accounts
from reviewflow.articles import services as articles
from reviewflow.extensions import db
from tests.factories import BODY, event_count, make_article, make_user

class Cfg(config.TestConfig):
    SQLALCHEMY_DATABASE_URI = sys.argv[1]

app = create_app(Cfg)
with app.app_context():
    upgrade(revision=sys.argv[2])
    writer = make_user("writer", name="Wren Alder")
    reviewer = make_user("reviewer", name="Dana Okafor", credentials="M.D.", specialty="Dermatology")
    editor = make_user("editor", name="Eddie Marsh")
    # The live article cites nothing, so any release can publish it (from 0004 on, a cited source must be
    # checked first); the draft cites one, parsed by the release that saved it or by the upgrade.
    body = BODY + "\\nMoisturizers help.[^aad]\\n\\n[^aad]: American Academy of Dermatology. https://www.aad.org/\\n"
    live = make_article(writer, "published", reviewer=reviewer, editor=editor, title="Winter skin")
    draft = make_article(writer, "draft", title="Sun safety", body=body)
    articles.save_revision(writer, draft, "Sun safety", "Shade first.", base_revision=1, note="Shorter.")
    accounts.create_token(None, writer, "old token")
    db.session.commit()
    print(json.dumps({"slug": live.slug, "events": event_count(), "reviewer": reviewer.name}))
"""


def _previous_release(tmp_path) -> tuple[Path, str, str]:
    """The tree of the release before the newest migration was added, that tree's newest revision and
    the current head. Skipped without git history (failed in CI, where the clone is whole)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(ROOT / "migrations"))
    head = script.get_current_head()
    previous = script.get_revision(head).down_revision
    newest = Path(script.get_revision(head).path).relative_to(ROOT)
    found = subprocess.run(["git", "-C", str(ROOT), "log", "--diff-filter=A", "--format=%H", "--", str(newest)],
                           capture_output=True, text=True) if shutil.which("git") else None
    commits = found.stdout.split() if found is not None and found.returncode == 0 else []
    if previous is None or not commits:
        (pytest.fail if os.environ.get("CI") == "true" else pytest.skip)(
            f"no git history of {newest}: cannot check out the previous release")
    tree = tmp_path / "previous-release"
    tree.mkdir()
    archive = tmp_path / "previous.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(archive), f"{commits[-1]}^",
                    "reviewflow", "migrations", "templates", "config.py", "tests/__init__.py", "tests/factories.py"],
                   check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-f", str(archive), "-C", str(tree)], check=True, capture_output=True)
    # That release's own newest revision: the newest one's parent in a straight history, an older one
    # when migrations written side by side were chained one after another when their branches merged.
    previous = ScriptDirectory(str(tree / "migrations")).get_current_head()
    assert script.get_revision(previous) is not None, f"{previous} is not in the chain any more"
    return tree, previous, head


def test_upgrade_of_a_database_made_by_the_previous_release_keeps_the_chain_verifying(empty_app, tmp_path):
    from reviewflow.audit import services as audit
    from reviewflow.sources.models import RevisionSource

    tree, previous, head = _previous_release(tmp_path)
    url = empty_app.config["SQLALCHEMY_DATABASE_URI"]
    env = {**os.environ, "PYTHONPATH": str(tree), "REVIEWFLOW_CONFIG": "test"}
    made = subprocess.run([sys.executable, "-c", PREVIOUS_RELEASE_DATA, url, previous], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr[-3000:]
    old = json.loads(made.stdout.strip().splitlines()[-1])
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == previous

    upgrade()

    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
    verified = audit.verify(record_result=False)
    assert verified.ok, verified.reason
    assert verified.count == old["events"]
    assert db.session.query(RevisionSource).count() >= 1  # the sources of revisions saved before the upgrade
    page = empty_app.test_client().get(f"/articles/{old['slug']}")
    assert page.status_code == 200
    assert old["reviewer"] in page.get_data(as_text=True)
    assert _differences(empty_app) == []
