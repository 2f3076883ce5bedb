"""Password reset by e-mail: the same answer whether or not the address has an account (and the same
work), a one-time link valid one hour, stored hashed; using it ends every session and API token and
tells the person. Used, expired and unknown links get a page saying so."""
from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

from sqlalchemy import event, select

from reviewflow.audit.models import AuditEvent
from reviewflow.auth import resets
from reviewflow.auth.models import PasswordReset
from reviewflow.extensions import utcnow
from tests.auth.mail_helpers import last_link, link_in, outbox
from tests.factories import PASSWORD, make_user, token_for

NEW = "A-Brand-New-Passphrase-7"


def _ask(client, address: str):
    return client.post("/password/forgot", data={"email": address})


def _reset(client, path: str, password: str = NEW, confirm: str | None = None):
    return client.post(path, data={"password": password, "confirm": password if confirm is None else confirm})


def _can_sign_in(app, user, password: str) -> bool:
    return app.test_client().post("/login", data={"email": user.email, "password": password}).status_code == 303


def test_the_login_page_offers_it(client, db):
    html = client.get("/login").get_data(as_text=True)
    assert 'href="/password/forgot"' in html and "Forgot your password?" in html
    assert client.get("/password/forgot").status_code == 200


def test_the_same_answer_and_the_same_work_with_or_without_an_account(app, client, db):
    user = make_user("writer")
    address = user.email
    statements: list[Counter] = []

    def count(conn, cursor, statement, *args):
        statements[-1][statement.split()[0].upper()] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        answers = []
        for asked in (address, "nobody@example.org"):
            statements.append(Counter())
            answers.append(_ask(client, asked))
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    known, unknown = answers
    assert known.status_code == unknown.status_code == 303
    assert known.headers["Location"] == unknown.headers["Location"] == "/password/forgot/sent"
    assert known.get_data() == unknown.get_data()
    assert statements[0] == statements[1]  # the same statements, in kind and number: no shortcut for a miss
    assert client.get("/password/forgot/sent").status_code == 200
    # each address got one mail: a link for the account, a note without one for the other
    assert link_in(outbox(user.email)[0].body) and link_in(outbox("nobody@example.org")[0].body) is None
    assert len(db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "auth.password_reset_requested")).all()) == 2


def test_the_link_is_stored_hashed_and_expires_in_an_hour(client, db):
    user = make_user("writer")
    _ask(client, user.email)
    token = last_link(user.email).rsplit("/", 1)[1]
    row = db.session.scalars(select(PasswordReset)).one()
    assert row.token_hash != token and len(row.token_hash) == 64 and row.user_id == user.id
    assert timedelta(minutes=59) < row.expires_at - utcnow() <= timedelta(hours=1)
    assert all(token not in e.details for e in db.session.scalars(select(AuditEvent)))


def test_reset_sets_the_password_ends_sessions_revokes_tokens_and_tells_the_person(app, client, db, login):
    user = make_user("writer")
    plain = token_for(user)
    signed_in = app.test_client()
    signed_in.post("/login", data={"email": user.email, "password": PASSWORD})
    assert signed_in.get("/dashboard").status_code == 200
    _ask(client, user.email)
    path = last_link(user.email)
    page = client.get(path)
    assert page.status_code == 200 and user.email in page.get_data(as_text=True)

    response = _reset(client, path)
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert signed_in.get("/dashboard").status_code == 302  # every session ended
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"}).status_code == 401
    assert not _can_sign_in(app, user, PASSWORD) and _can_sign_in(app, user, NEW)
    assert [m.subject for m in outbox(user.email)] == ["[reviewflow] Reset your password",
                                                      "[reviewflow] Your password was changed"]
    event_ = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "account.password_reset")).one()
    assert event_.actor_id == user.id
    assert json.loads(event_.details)["api_keys_revoked"] == 1


def test_a_used_link_gets_a_clear_page(app, client, db):
    user = make_user("writer")
    _ask(client, user.email)
    path = last_link(user.email)
    assert _reset(client, path).status_code == 303
    for again in (client.get(path), _reset(client, path, "Yet-Another-Passphrase-9")):
        assert again.status_code == 409
        html = again.get_data(as_text=True)
        assert "This link was already used" in html and "Error" not in html.split("<main")[1][:200]
    assert _can_sign_in(app, user, NEW)  # the second try changed nothing


def test_an_expired_link_gets_a_clear_page(app, client, db):
    user = make_user("writer")
    _ask(client, user.email)
    path = last_link(user.email)
    row = db.session.scalars(select(PasswordReset)).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    for response in (client.get(path), _reset(client, path)):
        assert response.status_code == 410
        assert "This link has expired" in response.get_data(as_text=True)
        assert "Ask for a new link" in response.get_data(as_text=True)
    assert _can_sign_in(app, user, PASSWORD)


def test_an_unknown_link_gets_a_clear_page(client, db):
    for path in ("/password/reset/not-a-real-token", "/password/reset/" + "x" * 300):
        response = client.get(path)
        assert response.status_code == 404
        assert "This link is not valid" in response.get_data(as_text=True)


def test_a_password_that_breaks_the_rules_keeps_the_link(app, client, db):
    user = make_user("writer")
    _ask(client, user.email)
    path = last_link(user.email)
    short = _reset(client, path, "short")
    assert short.status_code == 400
    differ = _reset(client, path, NEW, confirm=NEW + "x")
    assert differ.status_code == 400 and "The two passwords differ." in differ.get_data(as_text=True)
    assert _reset(client, path).status_code == 303


def test_a_newer_password_voids_older_links(app, client, db, login):
    user = make_user("writer")
    _ask(client, user.email)
    first = last_link(user.email)
    _ask(client, user.email)
    second = last_link(user.email)
    assert _reset(client, second).status_code == 303
    assert client.get(first).status_code == 409  # the reset voided the other link
    _ask(client, user.email)
    third = last_link(user.email)
    login(user, NEW)
    client.post("/account", data={"pw-current_password": NEW, "pw-new_password": "Changed-On-The-Page-42",
                                  "pw-submit": "1"})
    assert client.get(third).status_code == 409  # so does a change from the account page


def test_inactive_accounts_get_no_link(app, client, db):
    from reviewflow.auth import services as accounts

    admin, user = make_user("admin"), make_user("writer")
    accounts.update_user(admin, user, active=False)
    db.session.commit()
    assert _ask(client, user.email).status_code == 303
    assert link_in(outbox(user.email)[-1].body) is None


def test_requests_for_one_address_are_limited_per_hour(client, db):
    user = make_user("writer")
    for _ in range(resets.REQUESTS_PER_HOUR + 2):
        assert _ask(client, user.email).headers["Location"] == "/password/forgot/sent"
    assert len(outbox(user.email)) == resets.REQUESTS_PER_HOUR


def test_something_that_is_not_an_address_is_said_on_the_form(client, db):
    response = _ask(client, "not an address")
    assert response.status_code == 400
    assert "Enter a valid email address." in response.get_data(as_text=True)
