"""Screenshots of every main screen, at a laptop's width and a phone's, for looking at and for the README.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--only NAME …]

Loads the demo data into a throwaway SQLite database, serves it on a free loopback port, signs in
as each demo person through the log-in page (Debian's Chromium driven by Playwright, as the
browser tests do) and saves each screen twice: ``laptop/NAME.png`` (1280 × 800, the first screen)
and ``phone/NAME.png`` (390 × 844, the whole page). Nothing here is a test: the browser tests
check the pages; this is for people to look at them.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402
from sqlalchemy import select  # noqa: E402

import config  # noqa: E402
from reviewflow import create_app  # noqa: E402
from reviewflow.demo_content import PEOPLE  # noqa: E402
from reviewflow.extensions import db  # noqa: E402
from tests.browser.conftest import CHROMIUM, LAUNCH_ARGS, LiveServer  # noqa: E402
from tests.browser.helpers import sign_in  # noqa: E402

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
WRITER, REVIEWER = "maren.castellano@example.org", "imani.halvorsen@example.org"
EDITOR, ADMIN = "beatrix.solano@example.org", "rosalind.achterberg@example.org"


def articles_by_state() -> dict[str, int]:
    """One demo article id per state (the first), who wrote the first one with changes requested, and the
    slug of a live one."""
    from reviewflow.articles.models import Article
    from reviewflow.auth.models import User

    found: dict[str, int] = {}
    for article in db.session.scalars(select(Article).order_by(Article.id)):
        found.setdefault(str(article.state), article.id)
        if article.state == "changes_requested" and "changes_writer" not in found:
            found["changes_writer"] = db.session.get(User, article.writer_id).email
        if article.live_version is not None:
            found.setdefault("slug", article.slug)
    return found


def screens(ids: dict) -> list[tuple[str, str | None, str]]:
    """(name, who signs in — None for a reader —, path) of every main screen."""
    review, approved = ids.get("in_review"), ids.get("approved")
    live = ids.get("published")
    own, owner = ids.get("changes_requested"), ids.get("changes_writer", WRITER)
    return [
        ("public-home", None, "/"),
        ("public-articles", None, "/articles"),
        ("public-article", None, f"/articles/{ids['slug']}"),
        ("login", None, "/login"),
        ("writer-dashboard", WRITER, "/dashboard"),
        ("writer-editor", owner, f"/work/articles/{own}/edit"),
        ("writer-history", WRITER, f"/work/articles/{live}/history"),
        ("reviewer-queue", REVIEWER, "/reviews"),
        ("reviewer-annotations", REVIEWER, f"/work/articles/{review}/review"),
        ("reviewer-sign", REVIEWER, f"/work/articles/{review}/sign?decision=approve"),
        ("editor-dashboard", EDITOR, "/dashboard"),
        ("editor-assign", EDITOR, f"/work/articles/{review}/assign"),
        ("editor-publish", EDITOR, f"/work/articles/{approved}/publish"),
        ("editor-overview", EDITOR, "/editorial"),
        ("editor-audit", EDITOR, f"/work/articles/{live}/audit"),
        ("notifications", REVIEWER, "/notifications"),
        ("account", REVIEWER, "/account"),
        ("preferences", REVIEWER, "/account/preferences"),
        ("admin-users", ADMIN, "/admin/users"),
        ("admin-invitations", ADMIN, "/admin/invitations"),
        ("admin-mail", ADMIN, "/admin/mail"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--only", nargs="*", help="names of screens to take (default: all)")
    parser.add_argument("--first-screen", action="store_true", help="phones too: only what shows before scrolling")
    args = parser.parse_args()
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        class Cfg(config.TestConfig):
            SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp}/screens.db"
            WTF_CSRF_ENABLED = True

        app = create_app(Cfg)
        with app.app_context():
            from reviewflow import demo

            db.create_all()
            demo.seed()
            ids = articles_by_state()
            db.session.remove()
        server = LiveServer(app)
        try:
            take(server, screens(ids), out, set(args.only or []), whole=not args.first_screen)
        finally:
            server.stop()
    return 0


def take(server, wanted: list, out: Path, only: set[str], whole: bool = True) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("REVIEWFLOW_CHROMIUM", CHROMIUM), args=LAUNCH_ARGS)
        for width, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
            (out / width).mkdir(parents=True, exist_ok=True)
            pages: dict = {}
            for name, who, path in wanted:
                if only and name not in only:
                    continue
                if who not in pages:
                    context = browser.new_context(viewport=viewport, locale="en-GB", timezone_id="Europe/Berlin",
                                                  is_mobile=width == "phone", has_touch=width == "phone")
                    pages[who] = context.new_page()
                    if who:
                        sign_in(pages[who], server, who, PEOPLE[0]["password"])
                page = pages[who]
                response = page.goto(server.url + path)
                page.screenshot(path=str(out / width / f"{name}.png"), full_page=whole and width == "phone")
                print(f"{width:6} {name:22} {response.status if response else '?'} {path}")
        browser.close()


if __name__ == "__main__":
    raise SystemExit(main())
