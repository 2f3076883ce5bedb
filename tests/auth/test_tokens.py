"""API tokens from the account page: the password asked again, a name, an optional expiry (401 after it),
a last-used time written at most once a minute, revoked by a password change; admins revoke anyone's."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from reviewflow.audit.models import AuditEvent
from reviewflow.auth import services as accounts
from reviewflow.auth.models import ApiToken
from reviewflow.extensions import utcnow
from tests.factories import PASSWORD, make_user, token_for

TOKEN = re.compile(r'value="(rf_[A-Za-z0-9_\-]+)"')


def _create(client, password: str = PASSWORD, expires: str = "30", name: str = "CMS sync"):
    return client.post("/account", data={"tok-name": name, "tok-expires": expires, "tok-password": password,
                                         "tok-submit": "1"})


def _me(client, plain: str):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"})


def test_creating_a_token_asks_for_the_password_again(db, login, client):
    user = make_user("writer")
    login(user)
    response = _create(client, password="not-my-password")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Your password is not right. No token was made." in html and TOKEN.search(html) is None
    response = _create(client, password="")
    assert response.status_code == 400 and TOKEN.search(response.get_data(as_text=True)) is None
    assert db.session.scalars(select(ApiToken)).all() == []
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "token.created")).all() == []


def test_a_token_with_an_expiry_works_until_then_and_gets_401_after(db, login, client):
    user = make_user("writer")
    login(user)
    response = _create(client, expires="7")
    assert response.status_code == 200
    plain = TOKEN.search(response.get_data(as_text=True)).group(1)
    token = db.session.scalars(select(ApiToken)).one()
    assert token.name == "CMS sync"
    assert timedelta(days=6, hours=23) < token.expires_at - utcnow() <= timedelta(days=7)
    assert _me(client, plain).status_code == 200

    token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = _me(client, plain)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Expired" in client.get("/account").get_data(as_text=True)


def test_a_token_without_expiry_and_an_unknown_lifetime(db, login, client):
    user = make_user("writer")
    login(user)
    assert _create(client, expires="").status_code == 200
    assert db.session.scalars(select(ApiToken)).one().expires_at is None
    assert _create(client, expires="9999").status_code == 400  # not one of the choices
    with pytest.raises(Exception, match="how long the token lasts"):
        accounts.create_token(user, user, "x", PASSWORD, expires_in_days=9999)


def test_last_used_is_written_at_most_once_a_minute(db, client):
    user = make_user("writer")
    plain = token_for(user)
    assert _me(client, plain).status_code == 200
    token = db.session.scalars(select(ApiToken)).one()
    first = token.last_used_at
    assert first is not None
    token.last_used_at = first - timedelta(seconds=30)
    db.session.commit()
    _me(client, plain)
    db.session.expire_all()
    assert token.last_used_at == first - timedelta(seconds=30)  # within the minute: no write
    token.last_used_at = first - timedelta(minutes=2)
    db.session.commit()
    _me(client, plain)
    db.session.expire_all()
    assert token.last_used_at > first - timedelta(seconds=30)


def test_a_password_change_revokes_every_token(db, login, client):
    user = make_user("writer")
    plain = token_for(user)
    login(user)
    response = client.post("/account", data={"pw-current_password": PASSWORD,
                                             "pw-new_password": "An0ther-Long-Passphrase", "pw-submit": "1"})
    assert response.status_code == 303
    assert _me(client, plain).status_code == 401


def test_an_admin_revokes_anyones_token_from_the_admin_page(app, db, login, client):
    admin, writer = make_user("admin"), make_user("writer")
    plain = token_for(writer)
    token = db.session.scalars(select(ApiToken)).one()
    login(admin)
    page = client.get(f"/admin/users/{writer.id}").get_data(as_text=True)
    assert f"/account/tokens/{token.id}/revoke" in page
    response = client.post(f"/account/tokens/{token.id}/revoke",
                           headers={"Referer": f"http://localhost/admin/users/{writer.id}"})
    assert response.status_code == 303 and response.headers["Location"] == f"/admin/users/{writer.id}"
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"}).status_code == 401
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "token.revoked")).one()
    assert event.actor_id == admin.id and event.actor_role == "admin"
