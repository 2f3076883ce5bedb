"""An admin registers a webhook endpoint in a real browser (CSRF on, as people use the forms), copies its
secret, sends a test ping to a real receiver, reads the delivery list and deactivates the endpoint; each
page passes axe and fits a 390 px phone without sideways scrolling.

Uses the live server and Chromium of ``tests/browser`` (skipped where there is no Chromium, unless
REVIEWFLOW_REQUIRE_BROWSER is set). Screenshots go under the system's temporary directory.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from reviewflow.extensions import db
from reviewflow.webhooks.models import WebhookEndpoint
from tests.browser.conftest import CHROMIUM
from tests.browser.conftest import browser_context_args as browser_context_args
from tests.browser.conftest import browser_type_launch_args as browser_type_launch_args
from tests.browser.conftest import check_a11y as check_a11y
from tests.browser.conftest import live_app as live_app
from tests.browser.conftest import live_server as live_server
from tests.browser.helpers import accept_confirms, sign_in
from tests.factories import make_user

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("REVIEWFLOW_REQUIRE_BROWSER"),
                                reason=f"no Chromium at {CHROMIUM}")
SHOTS = Path(os.environ.get("REVIEWFLOW_SHOTS") or Path(tempfile.gettempdir()) / "reviewflow-shots")


def _fits_a_phone(page, name: str) -> None:
    """At 390 px the page itself never scrolls sideways (wide tables scroll inside their own box)."""
    size = page.viewport_size
    page.set_viewport_size({"width": 390, "height": 844})
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"webhooks-{name}-390.png"), full_page=True)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390, name
    page.set_viewport_size(size)
    page.screenshot(path=str(SHOTS / f"webhooks-{name}.png"), full_page=True)


def test_an_admin_registers_pings_and_deactivates_an_endpoint(page, live_server, live_app, check_a11y, receiver):
    make_user("admin", name="Ada Admin", email="ada@example.org")
    accept_confirms(page)
    sign_in(page, live_server, "ada@example.org")
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name="No webhook endpoints")).to_be_visible()
    check_a11y(page)

    page.get_by_role("link", name="New endpoint").first.click()
    page.get_by_label("Endpoint URL").fill("http://cms.example.org/hooks")
    page.get_by_label("Description").fill("CMS: refresh article pages")
    page.get_by_label("An article is published").check()
    page.get_by_role("button", name="Register endpoint").click()
    expect(page.locator("#url-error")).to_contain_text("Use an https:// address")  # refused, said on the form
    check_a11y(page)
    _fits_a_phone(page, "new")

    page.get_by_label("Endpoint URL").fill(receiver.url)
    page.get_by_role("button", name="Register endpoint").click()
    expect(page.get_by_role("heading", name="Endpoint registered")).to_be_visible()
    secret = page.get_by_role("textbox", name="Signing secret").input_value()
    assert secret.startswith("whsec_")
    receiver.secrets["/hooks/reviewflow"] = secret
    check_a11y(page)
    _fits_a_phone(page, "created")

    page.get_by_role("link", name="Back to webhooks").click()
    expect(page.get_by_role("region", name=receiver.url)).to_contain_text("article.published")
    assert secret not in page.content()
    page.get_by_role("button", name=f"Send test ping to {receiver.url}").click()
    expect(page.get_by_role("status").first).to_contain_text("The test ping was delivered: the receiver answered 200.")
    [got] = receiver.requests
    assert got.signature_ok and got.json["event"] == "ping"
    check_a11y(page)
    _fits_a_phone(page, "endpoints")

    page.get_by_role("link", name="Deliveries").first.click()
    expect(page.get_by_role("row", name="ping")).to_contain_text("Delivered")
    expect(page.get_by_role("row", name="ping")).to_contain_text("HTTP 200")
    check_a11y(page)
    _fits_a_phone(page, "deliveries")

    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Webhooks").click()
    page.get_by_role("button", name=f"Deactivate {receiver.url}").click()
    expect(page.get_by_role("status").first).to_contain_text("is inactive")
    expect(page.get_by_role("region", name=receiver.url)).to_contain_text("Inactive")
    db.session.expire_all()
    assert db.session.scalar(select(WebhookEndpoint.active)) is False
