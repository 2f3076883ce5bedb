"""The log-in page in a real browser: it signs a person in, refuses a wrong password, and is accessible."""
from tests.browser.helpers import sign_in
from tests.factories import PASSWORD, make_user


def test_sign_in_and_refusal(page, live_server, live_app, shot, check_a11y):
    make_user("writer", name="Wren Alder", email="wren@example.org")
    page.goto(live_server.url + "/login")
    check_a11y(page)
    page.get_by_label("Email").fill("wren@example.org")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_text("do not match an active account").is_visible()
    shot(page, "refused")
    sign_in(page, live_server, "wren@example.org", PASSWORD)
    assert "Wren Alder" in page.content()
    shot(page, "dashboard")
