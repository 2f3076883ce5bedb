"""Server-side sessions: one record per signed-in browser, listed on the account page, ended by
"Sign out everywhere else", log-out and password changes; the user loader refuses an ended or missing one."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import delete, select

from reviewflow.audit.models import AuditEvent
from reviewflow.auth import sessions
from reviewflow.auth.models import ApiToken, UserSession
from reviewflow.notifications.models import OutboxEmail
from tests.factories import PASSWORD, make_user, token_for

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.1 Mobile/15E148 Safari/604.1")
NEW_PASSWORD = "An0ther-Long-Passphrase"


def _sign_in(app, user, agent: str = FIREFOX, ip: str = "198.51.100.7"):
    browser = app.test_client()
    response = browser.post("/login", data={"email": user.email, "password": PASSWORD},
                            headers={"User-Agent": agent}, environ_base={"REMOTE_ADDR": ip})
    assert response.status_code == 303
    return browser


def _live(db, user) -> list[UserSession]:
    db.session.expire_all()
    return list(db.session.scalars(select(UserSession).where(UserSession.user_id == user.id,
                                                             UserSession.ended_at.is_(None))))


def _signed_in(browser) -> bool:
    return browser.get("/dashboard").status_code == 200


def test_each_sign_in_is_a_record_listed_on_the_account_page(app, db):
    user = make_user("writer")
    laptop = _sign_in(app, user, FIREFOX, "198.51.100.7")
    _sign_in(app, user, SAFARI, "203.0.113.9")
    records = _live(db, user)
    assert len(records) == 2 and {r.ip for r in records} == {"198.51.100.7", "203.0.113.9"}
    assert all(len(r.key_hash) == 64 for r in records)
    html = laptop.get("/account", headers={"User-Agent": FIREFOX}).get_data(as_text=True)
    assert "Firefox on Windows" in html and "Safari on iPhone" in html
    this_row = html.split('id="this-device"')[1].split("</tr>")[0]
    assert "Firefox on Windows" in this_row and "This device" in this_row and "203.0.113.9" not in this_row
    assert "Sign out everywhere else" in html


def test_the_cookie_carries_a_key_not_its_digest(app, db):
    user = make_user("writer")
    browser = _sign_in(app, user)
    with browser.session_transaction() as cookie:
        key = cookie[sessions.SESSION_KEY]
    (record,) = _live(db, user)
    assert key != record.key_hash and sessions.is_current(record, key)


def test_sign_out_everywhere_else_keeps_only_this_browser(app, db):
    user = make_user("writer")
    phone, tablet = _sign_in(app, user, SAFARI), _sign_in(app, user, SAFARI)
    thief = app.test_client()
    thief.set_cookie("session", phone.get_cookie("session").value)  # a copy of the phone's cookie
    laptop = _sign_in(app, user)
    assert _signed_in(thief)

    response = laptop.post("/account/sessions/end-others")
    assert response.status_code == 303
    assert _signed_in(laptop)
    assert not _signed_in(phone) and not _signed_in(tablet) and not _signed_in(thief)
    assert len(_live(db, user)) == 1
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.sessions_ended")).one()
    assert event.actor_id == user.id and json.loads(event.details) == {"ended": 2}


def test_loader_refuses_a_session_whose_record_is_ended_or_gone(app, db):
    user = make_user("writer")
    first, second = _sign_in(app, user), _sign_in(app, user)
    one, two = sorted(_live(db, user), key=lambda r: r.id)
    one.ended_at = one.created_at + timedelta(seconds=1)
    db.session.commit()
    assert not _signed_in(first) and _signed_in(second)
    db.session.execute(delete(UserSession).where(UserSession.id == two.id))
    db.session.commit()
    response = second.get("/dashboard")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_cookie_without_a_session_key_is_refused(app, db):
    """A cookie from before server-side sessions (or one with the key removed) is not signed in."""
    user = make_user("writer")
    browser = _sign_in(app, user)
    with browser.session_transaction() as cookie:
        del cookie[sessions.SESSION_KEY]
    assert not _signed_in(browser)


def test_another_persons_session_key_does_not_sign_you_in_as_them(app, db):
    alice, bob = make_user("writer"), make_user("editor")
    a, b = _sign_in(app, alice), _sign_in(app, bob)
    with b.session_transaction() as cookie:
        bobs_key = cookie[sessions.SESSION_KEY]
    with a.session_transaction() as cookie:
        cookie[sessions.SESSION_KEY] = bobs_key  # alice's user id with bob's session key
    assert not _signed_in(a)


def test_last_seen_is_written_at_most_once_a_minute(app, db):
    user = make_user("writer")
    browser = _sign_in(app, user)
    (record,) = _live(db, user)
    half_minute_ago = record.last_seen_at - timedelta(seconds=30)
    record.last_seen_at = half_minute_ago
    db.session.commit()
    assert _signed_in(browser)
    db.session.expire_all()
    assert db.session.get(UserSession, record.id).last_seen_at == half_minute_ago  # not yet a minute: no write
    two_minutes_ago = half_minute_ago - timedelta(seconds=90)
    db.session.get(UserSession, record.id).last_seen_at = two_minutes_ago
    db.session.commit()
    assert _signed_in(browser)
    db.session.expire_all()
    assert db.session.get(UserSession, record.id).last_seen_at > half_minute_ago


def test_log_out_ends_the_record(app, db):
    user = make_user("writer")
    browser = _sign_in(app, user)
    browser.post("/logout")
    assert _live(db, user) == []


def test_password_change_ends_other_sessions_keeps_this_one_and_revokes_tokens(app, db, client):
    user = make_user("writer")
    plain = token_for(user)
    other = _sign_in(app, user, SAFARI)
    laptop = _sign_in(app, user)
    with laptop.session_transaction() as cookie:
        key = cookie[sessions.SESSION_KEY]
    response = laptop.post("/account", data={"pw-current_password": PASSWORD, "pw-new_password": NEW_PASSWORD,
                                             "pw-submit": "1"})
    assert response.status_code == 303
    assert _signed_in(laptop) and not _signed_in(other)
    (kept,) = _live(db, user)
    assert sessions.is_current(kept, key)  # the same record: this browser was not signed in afresh
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"}).status_code == 401
    assert all(t.revoked_at is not None for t in db.session.scalars(select(ApiToken)))
    mail = db.session.scalars(select(OutboxEmail).where(OutboxEmail.to_address == user.email)).all()
    assert [m.subject for m in mail] == ["[reviewflow] Your password was changed"]
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "account.password_changed")).one()
    assert json.loads(event.details) == {"sessions_ended": 1, "api_keys_revoked": 1}


def test_deactivation_ends_the_records(app, db):
    from reviewflow.auth import services as accounts

    admin, user = make_user("admin"), make_user("writer")
    _sign_in(app, user)
    accounts.update_user(admin, user, active=False)
    db.session.commit()
    assert _live(db, user) == []


def test_device_labels():
    assert sessions.device_label(FIREFOX) == "Firefox on Windows"
    assert sessions.device_label(SAFARI) == "Safari on iPhone"
    edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36 Edg/120.0"
    assert sessions.device_label(edge) == "Edge on Windows"
    chrome_mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
    assert sessions.device_label(chrome_mac) == "Chrome on macOS"
    assert sessions.device_label("") == "Unknown browser"
    assert sessions.device_label("curl/8.4.0") == "curl"
