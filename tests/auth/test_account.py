"""One's own account page: details, password change ending other sessions, API tokens shown once
and revocable, and a reviewer's credential history."""
from __future__ import annotations

import re

from sqlalchemy import select

from reviewflow.audit.models import AuditEvent
from reviewflow.auth import services as accounts
from reviewflow.auth.models import ApiToken
from tests.factories import PASSWORD

NEW_PASSWORD = "An0ther-Long-Passphrase"
TOKEN = re.compile(r'value="(rf_[A-Za-z0-9_\-]+)"')


def events(db, action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.post("/account/tokens/1/revoke").status_code == 303


def test_account_page_shows_who_you_are(cast, login, client):
    login(cast["writer"])
    html = client.get("/account").get_data(as_text=True)
    assert "Wren Alder" in html and cast["writer"].email in html and "Writer" in html
    assert 'name="pw-submit"' in html and 'name="tok-submit"' in html
    assert "credential profile" not in html.lower()  # writers have none


def test_reviewer_sees_credential_history_newest_first(cast, login, client, db):
    rev, admin = cast["rev"], cast["admin"]
    accounts.save_profile(admin, rev, {"credentials": "M.D., Ph.D., FAAD", "specialty": "Dermatology",
                                       "license_number": "GA-77812", "license_expires": "2031-03-31"})
    db.session.commit()
    login(rev)
    html = client.get("/account").get_data(as_text=True)  # the new version needs verifying again
    assert "are not verified yet" in html and "Verified</span> by Ada Admin" not in html
    accounts.verify_profile(admin, rev, "Licence looked up in the board's public register.")
    db.session.commit()
    html = client.get("/account").get_data(as_text=True)
    assert "Your credential profile" in html and "are not verified yet" not in html
    assert html.index("GA-77812") < html.index("LIC-")  # newest first
    assert "Verified</span> by Ada Admin" in html


def test_password_change_ends_other_sessions(app, cast, login, client, db):
    writer = cast["writer"]
    other = app.test_client()
    assert other.post("/login", data={"email": writer.email, "password": PASSWORD}).status_code == 303
    assert other.get("/dashboard").status_code == 200
    login(writer)

    response = client.post("/account", data={"pw-current_password": PASSWORD, "pw-new_password": NEW_PASSWORD,
                                             "pw-submit": "1"})
    assert response.status_code == 303
    assert client.get("/dashboard").status_code == 200  # this browser keeps a fresh session
    response = other.get("/dashboard")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert len(events(db, "account.password_changed")) == 1

    third = app.test_client()
    assert third.post("/login", data={"email": writer.email, "password": PASSWORD}).status_code != 303
    assert third.post("/login", data={"email": writer.email, "password": NEW_PASSWORD}).status_code == 303


def test_wrong_current_password_changes_nothing(cast, login, client, db):
    writer = cast["writer"]
    login(writer)
    before = writer.password_hash
    response = client.post("/account", data={"pw-current_password": "not-my-password", "pw-new_password": NEW_PASSWORD,
                                             "pw-submit": "1"})
    assert response.status_code == 400
    assert "The current password is not right" in response.get_data(as_text=True)
    db.session.expire_all()
    assert writer.password_hash == before
    assert events(db, "account.password_changed") == []
    short = client.post("/account", data={"pw-current_password": PASSWORD, "pw-new_password": "short",
                                          "pw-submit": "1"})
    assert short.status_code == 400
    assert client.get("/dashboard").status_code == 200


def test_token_is_shown_once_and_revoking_it_locks_the_api(cast, login, client, db):
    writer = cast["writer"]
    login(writer)
    response = client.post("/account", data={"tok-name": "CMS sync", "tok-password": PASSWORD, "tok-submit": "1"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "copy it now; it will not be shown again" in html.lower()
    plain = TOKEN.search(html).group(1)
    token = db.session.scalars(select(ApiToken).where(ApiToken.user_id == writer.id)).one()
    assert token.name == "CMS sync" and plain.startswith(token.prefix) and token.token_hash != plain
    assert plain not in client.get("/account").get_data(as_text=True)  # shown once only
    assert all(plain not in e.details and plain not in e.target_label for e in events(db, "token.created"))

    headers = {"Authorization": f"Bearer {plain}"}
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200 and me.get_json()["email"] == writer.email
    assert "never" not in client.get("/account").get_data(as_text=True).split("CMS sync")[1].split("</tr>")[0]

    response = client.post(f"/account/tokens/{token.id}/revoke", headers={"Referer": "https://evil.example/x"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/account")
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert len(events(db, "token.revoked")) == 1
    assert "Revoked" in client.get("/account").get_data(as_text=True)
    assert client.post(f"/account/tokens/{token.id}/revoke").status_code == 409  # already revoked


def test_token_name_with_control_characters_is_refused(cast, login, client, db):
    """A token's name is a one-line field: control characters in it are 400 and nothing is created."""
    login(cast["writer"])
    response = client.post("/account", data={"tok-name": "CMS\x07 sync", "tok-password": PASSWORD,
                                             "tok-submit": "1"})
    assert response.status_code == 400
    assert TOKEN.search(response.get_data(as_text=True)) is None
    assert db.session.scalars(select(ApiToken).where(ApiToken.user_id == cast["writer"].id)).all() == []
    assert events(db, "token.created") == []


def test_nobody_revokes_another_persons_token(cast, login, client, db):
    _, plain = accounts.create_token(None, cast["writer2"], "theirs")
    db.session.commit()
    token = db.session.scalars(select(ApiToken).where(ApiToken.user_id == cast["writer2"].id)).one()
    for who in ("writer", "editor", "rev"):
        login(cast[who])
        assert client.post(f"/account/tokens/{token.id}/revoke").status_code == 403, who
        client.post("/logout")
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"}).status_code == 200
    login(cast["writer"])
    assert client.post("/account/tokens/987654/revoke").status_code == 404
