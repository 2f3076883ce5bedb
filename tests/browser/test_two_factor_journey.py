"""Two-factor sign-in in a real browser: a reviewer whose role requires it signs in, is sent to the
set-up page, scans (here: reads) the key shown, confirms with a code computed by pyotp, keeps the
recovery codes, signs out, and signs in again with the password and then a code."""
import time

import pyotp

from tests.browser.helpers import sign_out
from tests.factories import PASSWORD, make_user


def test_enrol_and_sign_in_with_a_code(page, live_server, live_app, shot, check_a11y):
    live_app.config["TWO_FACTOR_REQUIRED_ROLES"] = ("reviewer", "editor", "admin")
    make_user("reviewer", name="Dana Okafor", email="dana@example.org", credentials="M.D., Ph.D.")
    page.goto(live_server.url + "/login")
    page.get_by_label("Email").fill("dana@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # Her role requires a second factor: every page leads to the set-up page until she has one.
    page.wait_for_url("**/account/two-factor")
    assert page.get_by_text("Your role requires two-factor sign-in").is_visible()
    page.goto(live_server.url + "/reviews")
    page.wait_for_url("**/account/two-factor")
    check_a11y(page)
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    page.wait_for_url("**/account/two-factor")
    assert page.locator("#qr-code svg").is_visible()
    check_a11y(page)
    shot(page, "set-up")
    key = page.locator("#two-factor-key").inner_text().replace(" ", "")
    totp = pyotp.TOTP(key)
    # The code of the step before (accepted: clocks drift), so the current one is still unused below.
    page.locator("#code").fill(totp.at(time.time() - 30))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    codes = page.locator("#recovery-codes li")
    codes.first.wait_for()
    assert codes.count() == 10
    check_a11y(page)
    shot(page, "recovery-codes")
    page.get_by_role("link", name="I have saved them").click()
    page.wait_for_url("**/dashboard")
    sign_out(page)

    page.get_by_label("Email").fill("dana@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/login/code")
    check_a11y(page)
    page.locator("#code").fill("000000")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_text("That code is not right").is_visible()
    page.locator("#code").fill(totp.now())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard")
    assert "Dana Okafor" in page.content()
    shot(page, "signed-in")
