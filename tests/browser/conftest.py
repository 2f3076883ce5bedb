"""Browser journeys: a live reviewflow server in a thread and Debian's Chromium driven by Playwright.

Chromium is launched from /usr/bin/chromium (Playwright's own browser download cannot work
here). Without it the journeys are skipped, except when REVIEWFLOW_REQUIRE_BROWSER is set
(CI), where a missing browser fails the run. Screenshots go to test-artifacts/screenshots/.
"""
from __future__ import annotations

import itertools
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from sqlalchemy import select
from werkzeug.serving import make_server

from reviewflow.extensions import db
from tests.factories import empty_schema, make_app

CHROMIUM = os.environ.get("REVIEWFLOW_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
#: page.content() of every page checked for accessibility, for a by-hand run of the Nu Html Checker.
HTML_DUMPS = ROOT / "test-artifacts" / "html"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def pytest_collection_modifyitems(config, items):
    if shutil.which(CHROMIUM) or os.path.exists(CHROMIUM):
        return
    if os.environ.get("REVIEWFLOW_REQUIRE_BROWSER"):
        raise pytest.UsageError(f"REVIEWFLOW_REQUIRE_BROWSER is set but there is no Chromium at {CHROMIUM}")
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}: apt-get install chromium")
    for item in items:
        if "browser" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": LAUNCH_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}, "locale": "en-GB",
            "timezone_id": "Europe/Berlin"}


class LiveServer:
    """reviewflow served by werkzeug in a background thread on a free loopback port."""

    def __init__(self, app) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def live_app(tmp_path):
    url = os.environ.get("REVIEWFLOW_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'live.db'}"

    app = make_app(url, WTF_CSRF_ENABLED=True)  # the real forms, as a person uses them
    with app.app_context():
        empty_schema()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def live_server(live_app):
    server = LiveServer(live_app)
    yield server
    server.stop()


@pytest.fixture
def shot(request):
    """``shot(page, name)`` saves a full-page screenshot as a test artifact (``full_page=False``: the viewport)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def _shot(page, name: str, full_page: bool = True) -> Path:
        path = ARTIFACTS / f"{request.node.originalname}-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return _shot


_axe = Axe()  # carries the axe-core script


@pytest.fixture
def check_a11y(request):
    """``check_a11y(page)`` fails on any serious or critical axe-core violation of the page.

    It also saves the page's HTML to test-artifacts/html/ for validation with the Nu Html Checker.
    """
    seen = itertools.count(1)

    def _check(page) -> None:
        HTML_DUMPS.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^A-Za-z0-9]+", "-", urlsplit(page.url).path).strip("-") or "root"
        path = HTML_DUMPS / f"{request.node.originalname}-{next(seen):02d}-{slug}.html"
        path.write_text(page.content(), encoding="utf-8")
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(_axe.axe_script)
        # Only the violations: computing the passes too would double the time of each check.
        violations = page.evaluate("() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)")
        bad = [v for v in violations if v.get("impact") in ("serious", "critical")]
        detail = "; ".join(f"{v['id']} ({v['impact']}): {v['help']} at "
                           + ", ".join(n["target"][0] for n in v["nodes"][:3]) for v in bad)
        assert not bad, f"{page.url}: {detail}"

    return _check


@pytest.fixture
def demo_server(live_app, live_server):
    """The live server with the demo data (every article state) loaded; yields it and the article ids."""
    from reviewflow import demo
    from reviewflow.articles.models import Article

    with live_app.app_context():
        demo.seed()
        ids = db.session.scalars(select(Article.id).order_by(Article.id)).all()
        db.session.remove()
    return live_server, ids
