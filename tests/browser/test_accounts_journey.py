"""Accounts in a real browser: an admin invites a reviewer, the reviewer accepts the e-mailed link and
chooses a password; a writer who forgot their password resets it from the log-in page through the
e-mailed link. The links are read from the outbox, as ``send-mail`` would deliver them; each page is
checked with axe and at 390 px wide."""
from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from reviewflow.auth import services as accounts
from reviewflow.auth.models import User
from reviewflow.extensions import db
from tests.auth.mail_helpers import last_link, outbox
from tests.browser.helpers import accept_confirms, sign_in, sign_out
from tests.factories import PASSWORD, make_user

CHOSEN = "Noor-Chooses-This-Passphrase"
NEW = "Wren-Resets-To-This-Passphrase"


def _fits_a_phone(page) -> None:
    """At 390 px nothing needs sideways scrolling."""
    size = page.viewport_size
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1"), page.url
    page.set_viewport_size(size)


def test_an_invited_reviewer_accepts_and_signs_in(page, live_server, live_app, shot, check_a11y):
    make_user("admin", name="Ada Admin", email="ada@example.org")
    accept_confirms(page)
    sign_in(page, live_server, "ada@example.org")
    page.goto(live_server.url + "/admin/users")
    page.get_by_role("link", name="Invite someone").click()
    check_a11y(page)
    _fits_a_phone(page)
    page.get_by_label("Email").fill("noor@example.org")
    page.get_by_label("Name").fill("Noor Haddad")
    page.get_by_label("Reviewer").check()
    page.get_by_role("button", name="Send the invitation").click()  # no credentials yet: refused on the form
    expect(page.locator("#credentials-error")).to_contain_text("required for a reviewer")
    page.get_by_label("Post-nominal credentials").fill("D.O.")
    page.get_by_label("Specialty").fill("Dermatology")
    page.get_by_label("Licence number").fill("DO-20417")
    page.get_by_label("Licence expires").fill("2029-06-30")
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.get_by_role("status")).to_contain_text("Invitation sent to noor@example.org")
    expect(page.get_by_role("row", name="Noor Haddad")).to_contain_text("Reviewer")
    check_a11y(page)
    _fits_a_phone(page)
    shot(page, "invitations")
    sign_out(page)

    link = last_link("noor@example.org")
    page.goto(live_server.url + link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to reviewflow, Noor Haddad")
    check_a11y(page)
    _fits_a_phone(page)
    page.get_by_label(re.compile(r"^New password")).fill(CHOSEN)
    page.get_by_label("Repeat the new password").fill(CHOSEN + "!")
    page.get_by_role("button", name="Create my account").click()
    expect(page.locator("#confirm-error")).to_contain_text("The two passwords differ.")
    page.get_by_label(re.compile(r"^New password")).fill(CHOSEN)
    page.get_by_label("Repeat the new password").fill(CHOSEN)
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_url("**/dashboard")
    expect(page.get_by_role("status")).to_contain_text("Welcome to reviewflow, Noor Haddad")
    shot(page, "accepted")

    page.goto(live_server.url + "/account")
    expect(page.locator("#this-device")).to_contain_text("This device")
    check_a11y(page)
    sign_out(page)
    page.goto(live_server.url + link)  # the link worked once
    expect(page.get_by_role("heading", level=1)).to_have_text("This link was already used")
    check_a11y(page)
    shot(page, "used-link")
    sign_in(page, live_server, "noor@example.org", CHOSEN)
    db.session.expire_all()
    noor = db.session.scalar(select(User).where(User.email == "noor@example.org").options(*accounts.with_roles()))
    assert noor.profile.credentials == "D.O." and noor.profile.verified_at is None


def test_a_writer_resets_a_forgotten_password(page, live_server, live_app, shot, check_a11y, browser):
    make_user("writer", name="Wren Alder", email="wren@example.org")
    elsewhere = browser.new_page()  # Wren is still signed in on another device
    sign_in(elsewhere, live_server, "wren@example.org")

    page.goto(live_server.url + "/login")
    page.get_by_role("link", name="Forgot your password?").click()
    check_a11y(page)
    _fits_a_phone(page)
    page.get_by_label("Email").fill("wren@example.org")
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your e-mail")
    check_a11y(page)
    shot(page, "sent")

    link = last_link("wren@example.org")
    page.goto(live_server.url + link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    check_a11y(page)
    _fits_a_phone(page)
    page.get_by_label(re.compile(r"^New password")).fill(NEW)
    page.get_by_label("Repeat the new password").fill(NEW)
    page.get_by_role("button", name="Save the new password").click()
    page.wait_for_url("**/login")
    expect(page.get_by_role("status")).to_contain_text("Your password is changed")
    shot(page, "changed")

    page.get_by_label("Email").fill("wren@example.org")
    page.get_by_label("Password").fill(PASSWORD)  # the old one no longer works
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("do not match an active account")).to_be_visible()
    sign_in(page, live_server, "wren@example.org", NEW)

    elsewhere.goto(live_server.url + "/dashboard")  # the other device was signed out by the reset
    elsewhere.wait_for_url("**/login*")
    elsewhere.close()
    page.goto(live_server.url + link)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link was already used")
    assert [m.subject for m in outbox("wren@example.org")][-1] == "[reviewflow] Your password was changed"
