"""Log-in, log-out, throttling and lock-out, CSRF, safe ``next`` redirects and log-in audit events."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from reviewflow.audit.models import AuditEvent
from reviewflow.extensions import db
from tests.factories import PASSWORD, make_app, make_user

WRONG = "Wrong-Password-123"
NO_MATCH = "That email and password do not match an active account"


def _post_login(client, email: str, password: str, ip: str = "127.0.0.1", next_url: str | None = None):
    path = "/login" + (f"?next={next_url}" if next_url is not None else "")
    return client.post(path, data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": ip})


def _events(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


# Log-in and log-out ---------------------------------------------------------------------------

def test_login_page_has_email_password_and_csrf_fields(client):
    response = client.get("/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'name="email"' in html and 'name="password"' in html
    assert 'type="password"' in html


def test_anonymous_dashboard_is_sent_to_login(client):
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_login_then_dashboard(client, db):
    user = make_user("writer")
    response = _post_login(client, user.email, PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard"
    assert client.get("/dashboard").status_code == 200


def test_login_email_is_case_insensitive(client, db):
    make_user("writer", email="Mixed.Case@Example.org")
    assert _post_login(client, "  MIXED.case@example.ORG ", PASSWORD).status_code == 303


def test_logged_in_visit_to_login_goes_to_dashboard(client, login, db):
    login(make_user("editor"))
    response = client.get("/login")
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"


def test_logout_ends_the_session(client, login, db):
    login(make_user("writer"))
    response = client.post("/logout")
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    response = client.get("/dashboard")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_logout_is_post_only(client, login, db):
    login(make_user("writer"))
    assert client.get("/logout").status_code == 405
    assert client.get("/dashboard").status_code == 200


def test_copied_cookie_stops_working_after_logout(app, client, login, db):
    login(make_user("writer"))
    stolen = client.get_cookie("session").value
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/dashboard").status_code == 200  # the copy works while the session lives

    client.post("/logout")
    response = thief.get("/dashboard")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_inactive_account_cannot_log_in_and_gets_the_same_message(client, db):
    admin = make_user("admin")
    user = make_user("writer")
    from reviewflow.auth import services as accounts

    accounts.update_user(admin, user, active=False)
    db.session.commit()
    response = _post_login(client, user.email, PASSWORD)
    assert response.status_code == 200
    assert NO_MATCH in response.get_data(as_text=True)


def test_deactivation_ends_existing_sessions(client, login, db):
    from reviewflow.auth import services as accounts

    admin = make_user("admin")
    user = make_user("writer")
    login(user)
    accounts.update_user(admin, user, active=False)
    db.session.commit()
    assert client.get("/dashboard").status_code == 302


# Refusals and throttling ----------------------------------------------------------------------

def test_unknown_email_and_wrong_password_get_the_same_answer(client, db):
    user = make_user("writer")
    wrong = _post_login(client, user.email, WRONG, ip="10.0.0.1")
    unknown = _post_login(client, "nobody@example.org", WRONG, ip="10.0.0.2")
    assert wrong.status_code == unknown.status_code == 200
    wrong_html = wrong.get_data(as_text=True).replace(user.email, "EMAIL")
    unknown_html = unknown.get_data(as_text=True).replace("nobody@example.org", "EMAIL")
    assert NO_MATCH in wrong_html and NO_MATCH in unknown_html
    strip = re.compile(r"[0-9a-f]{32}")  # request ids, if a page shows one
    assert strip.sub("", wrong_html) == strip.sub("", unknown_html)
    for html in (wrong_html, unknown_html):
        assert "not registered" not in html.lower() and "no account" not in html.lower()
    assert client.get("/dashboard").status_code == 302


# The limits themselves (pairs, addresses, growing delays, races, proxies): tests/auth/test_login_limits.py


# CSRF --------------------------------------------------------------------------------------------

@pytest.fixture
def csrf_app(app):
    """The same database as ``app``, with CSRF protection on as in production."""
    other = make_app(app.config["SQLALCHEMY_DATABASE_URI"], WTF_CSRF_ENABLED=True)
    with other.app_context():
        yield other
        db.session.remove()


def test_login_without_csrf_token_is_refused(csrf_app):
    user = make_user("writer")
    client = csrf_app.test_client()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/dashboard").status_code == 302


def test_login_with_csrf_token_from_the_form_works(csrf_app):
    user = make_user("writer")
    client = csrf_app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert token, "the log-in form carries a CSRF token"
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token.group(1)})
    assert response.status_code == 303


def test_logout_without_csrf_token_is_refused(csrf_app):
    user = make_user("writer")
    client = csrf_app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert client.post("/logout").status_code == 400
    assert client.get("/dashboard").status_code == 200  # still signed in


# next redirects ------------------------------------------------------------------------------------

@pytest.mark.parametrize("target, expected", [
    ("/work/articles", "/work/articles"),
    ("/audit?actor=3", "/audit?actor=3"),
    ("https://evil.example/phish", "/dashboard"),
    ("//evil.example/phish", "/dashboard"),
    ("/\\evil.example", "/dashboard"),
    ("javascript:alert(1)", "/dashboard"),
    ("/dashboard\r\nSet-Cookie: session=stolen", "/dashboard"),
    ("/work/articles\n", "/dashboard"),
    ("/work/\tarticles", "/dashboard"),
    ("/\x00evil", "/dashboard"),
    ("//[evil.example", "/dashboard"),
    ("/\\\\evil.example/", "/dashboard"),
    ("https:/evil.example", "/dashboard"),
    ("evil.example", "/dashboard"),
    ("", "/dashboard"),
])
def test_next_redirect_stays_on_the_site(client, db, target, expected):
    """A scheme, a host, ``//``, a backslash or a line break in ``next`` falls back to the dashboard
    (a line break used to reach the ``Location`` header and give a 500)."""
    from urllib.parse import quote

    user = make_user("writer")
    response = _post_login(client, user.email, PASSWORD, next_url=quote(target, safe=""))
    assert response.status_code == 303
    assert response.headers["Location"] == expected


# Audit -------------------------------------------------------------------------------------------

def test_login_and_failed_login_are_audited_without_the_password(client, db):
    user = make_user("writer")
    _post_login(client, user.email, WRONG, ip="10.6.0.1")
    _post_login(client, user.email, PASSWORD, ip="10.6.0.1")
    failed, ok = _events("auth.login_failed"), _events("auth.login")
    assert len(failed) == 1 and len(ok) == 1
    assert failed[0].actor_id is None and failed[0].target_label == user.email
    assert json.loads(failed[0].details)["ip"] == "10.6.0.1"
    assert ok[0].actor_id == user.id and ok[0].actor_role == "writer"
    for event in failed + ok:
        text = " ".join(str(getattr(event, c)) for c in ("details", "target_label", "actor_name", "action"))
        assert WRONG not in text and PASSWORD not in text
        assert "password" not in json.loads(event.details)


def test_logout_is_audited(client, login, db):
    user = make_user("writer")
    login(user)
    client.post("/logout")
    events = _events("auth.logout")
    assert len(events) == 1 and events[0].actor_id == user.id
