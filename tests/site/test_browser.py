"""An admin changes the medical disclaimer and the logo in a real browser (CSRF on, as people use the
form); a reader then sees them, opens "How we review" and the reviewer directory from the menu. Each
page passes axe and fits a 390 px phone without sideways scrolling.

Uses the live server and Chromium of ``tests/browser`` (skipped where there is no Chromium, unless
REVIEWFLOW_REQUIRE_BROWSER is set).
"""
from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CHROMIUM
from tests.browser.conftest import browser_context_args as browser_context_args
from tests.browser.conftest import browser_type_launch_args as browser_type_launch_args
from tests.browser.conftest import check_a11y as check_a11y
from tests.browser.conftest import live_app as live_app
from tests.browser.conftest import live_server as live_server
from tests.browser.helpers import sign_in, sign_out
from tests.factories import make_user

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("REVIEWFLOW_REQUIRE_BROWSER"),
                                reason=f"no Chromium at {CHROMIUM}")


def _fits_a_phone(page) -> None:
    size = page.viewport_size
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390, page.url
    page.set_viewport_size(size)


def test_an_admin_edits_the_site_and_a_reader_sees_it(page, live_server, live_app, check_a11y):
    make_user("admin", name="Ada Admin", email="ada@example.org")
    make_user("reviewer", name="Dana Okafor", credentials="M.D., Ph.D.", specialty="Dermatology")
    sign_in(page, live_server, "ada@example.org")
    page.get_by_role("link", name="Site settings").click()
    expect(page.get_by_label("Medical disclaimer (Markdown)")).to_contain_text("not a substitute")
    check_a11y(page)
    _fits_a_phone(page)

    page.get_by_label("Logo address").fill("http://cdn.example.org/logo.png")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#logo_url-error")).to_contain_text("https:// address")  # refused, on the form
    page.get_by_label("Logo address").fill("/static/favicon.svg")
    page.get_by_label("Medical disclaimer (Markdown)").fill("Not medical advice. **Ask your doctor.**")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("Saved the logo, the medical disclaimer")
    sign_out(page)

    page.goto(live_server.url + "/articles")
    expect(page.locator(".site-footer .disclaimer strong")).to_have_text("Ask your doctor.")
    expect(page.locator("img.brand-logo")).to_have_attribute("src", "/static/favicon.svg")
    page.get_by_role("link", name="How we review").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("About our medical review")
    check_a11y(page)
    _fits_a_phone(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Our reviewers").click()
    expect(page.get_by_role("link", name="Dana Okafor, M.D., Ph.D.")).to_be_visible()
    expect(page.locator(".directory-card")).to_contain_text("Credentials verified on")
    check_a11y(page)
    _fits_a_phone(page)
