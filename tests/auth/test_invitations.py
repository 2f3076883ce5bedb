"""Invitations: an admin invites by e-mail with roles (and a reviewer's credentials); the person sets their
own password through a one-time link valid seven days, stored hashed. Used, expired, revoked and unknown
links get a page saying so. Admins see pending invitations, resend and revoke them; each write is audited."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from reviewflow.audit.models import AuditEvent
from reviewflow.auth import invitations
from reviewflow.auth.models import Invitation, User, UserSession
from reviewflow.extensions import utcnow
from tests.auth.mail_helpers import last_link, outbox
from tests.factories import make_user

CHOSEN = "My-Own-Chosen-Passphrase-1"
INVITEE = "noor.haddad@example.org"
REVIEWER = {"u-email": INVITEE, "u-name": "Noor Haddad", "u-roles": ["reviewer"], "credentials": "D.O.",
            "specialty": "Dermatology", "license_number": "DO-20417", "license_jurisdiction": "Ohio, USA",
            "license_expires": "2029-06-30", "organization": "Northwind Review Network"}


def _invite(client, email: str = INVITEE, name: str = "Noor Haddad", roles=("writer",), **extra):
    return client.post("/admin/invitations/new", data={"email": email, "name": name, "roles": list(roles), **extra})


def _accept(client, path: str, password: str = CHOSEN, confirm: str | None = None):
    return client.post(path, data={"password": password, "confirm": password if confirm is None else confirm})


def _events(db, action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.fixture
def admin(db, login):
    person = make_user("admin", name="Ada Admin")
    login(person)
    return person


def test_an_admin_invites_and_the_person_sets_their_password(app, client, db, admin):
    response = _invite(client, roles=("writer", "editor"))
    assert response.status_code == 303 and response.headers["Location"] == "/admin/invitations"
    invitation = db.session.scalars(select(Invitation)).one()
    path = last_link(INVITEE)
    token = path.rsplit("/", 1)[1]
    assert invitation.token_hash != token and len(invitation.token_hash) == 64
    assert timedelta(days=6, hours=23) < invitation.expires_at - utcnow() <= timedelta(days=7)
    assert "Ada Admin invites you" in outbox(INVITEE)[0].body
    created = _events(db, "invitation.created")
    assert len(created) == 1 and created[0].actor_id == admin.id and token not in created[0].details
    assert db.session.scalar(select(User).where(User.email == INVITEE)) is None  # no account before they accept

    person = app.test_client()
    page = person.get(path)
    assert page.status_code == 200 and "Welcome to reviewflow, Noor Haddad" in page.get_data(as_text=True)
    response = _accept(person, path)
    assert response.status_code == 303 and response.headers["Location"] == "/dashboard"
    assert person.get("/dashboard").status_code == 200  # signed in
    user = db.session.scalar(select(User).where(User.email == INVITEE))
    assert user.roles == ["editor", "writer"] and user.name == "Noor Haddad"
    assert app.test_client().post("/login", data={"email": INVITEE, "password": CHOSEN}).status_code == 303
    (accepted,) = _events(db, "invitation.accepted")
    assert accepted.actor_id == user.id and json.loads(accepted.details)["invited_by_id"] == admin.id
    db.session.expire_all()
    assert invitation.accepted_at is not None and invitation.user_id == user.id


def test_a_reviewer_invitation_carries_the_credentials_to_verify(app, client, db, admin):
    response = client.post("/admin/invitations/new", data={k.removeprefix("u-"): v for k, v in REVIEWER.items()})
    assert response.status_code == 303
    person = app.test_client()
    assert _accept(person, last_link(INVITEE)).status_code == 303
    user = db.session.scalar(select(User).where(User.email == INVITEE))
    profile = user.profile
    assert (profile.version, profile.credentials, profile.license_number, profile.license_expires) == \
        (1, "D.O.", "DO-20417", date(2029, 6, 30))
    assert profile.verified_at is None and profile.created_by_id == admin.id  # an admin verifies them next
    assert client.get(f"/admin/users/{user.id}").status_code == 200


def test_a_reviewer_invitation_without_credentials_is_refused_on_the_form(client, db, admin):
    response = _invite(client, roles=("reviewer",))
    assert response.status_code == 400
    assert "required for a reviewer" in response.get_data(as_text=True)
    assert db.session.scalars(select(Invitation)).all() == [] and outbox(INVITEE) == []


def test_a_used_link_gets_a_clear_page(app, client, db, admin):
    _invite(client)
    path = last_link(INVITEE)
    person = app.test_client()
    assert _accept(person, path).status_code == 303
    stranger = app.test_client()
    for response in (stranger.get(path), _accept(stranger, path, "Someone-Elses-Passphrase")):
        assert response.status_code == 409
        html = response.get_data(as_text=True)
        assert "This link was already used" in html and "already accepted" in html
    assert app.test_client().post("/login", data={"email": INVITEE, "password": CHOSEN}).status_code == 303


def test_an_expired_link_gets_a_clear_page_and_a_resend_revives_it(app, client, db, admin):
    _invite(client)
    old = last_link(INVITEE)
    invitation = db.session.scalars(select(Invitation)).one()
    invitation.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    person = app.test_client()
    for response in (person.get(old), _accept(person, old)):
        assert response.status_code == 410 and "This link has expired" in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == INVITEE)) is None
    assert "Expired" in client.get("/admin/invitations").get_data(as_text=True)

    assert client.post(f"/admin/invitations/{invitation.id}/resend").status_code == 303
    new = last_link(INVITEE)
    assert new != old
    assert person.get(old).status_code == 404  # only the newest link works
    assert _accept(person, new).status_code == 303
    assert len(_events(db, "invitation.resent")) == 1


def test_a_revoked_link_gets_a_clear_page(app, client, db, admin):
    _invite(client)
    path = last_link(INVITEE)
    invitation = db.session.scalars(select(Invitation)).one()
    page = client.get("/admin/invitations").get_data(as_text=True)
    revoke_form = page.split(f'/admin/invitations/{invitation.id}/revoke"')[1].split(">")[0]
    assert "data-confirm=" in revoke_form  # confirmed before it happens
    assert client.post(f"/admin/invitations/{invitation.id}/revoke").status_code == 303
    person = app.test_client()
    for response in (person.get(path), _accept(person, path)):
        assert response.status_code == 410
        assert "This invitation was withdrawn" in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == INVITEE)) is None
    assert len(_events(db, "invitation.revoked")) == 1
    assert client.post(f"/admin/invitations/{invitation.id}/revoke").status_code == 409
    assert client.post(f"/admin/invitations/{invitation.id}/resend").status_code == 409
    assert INVITEE not in client.get("/admin/invitations").get_data(as_text=True)


def test_an_unknown_link_gets_a_clear_page(client, db):
    for path in ("/invitations/nothing-like-this", "/invitations/" + "y" * 500):
        response = client.get(path)
        assert response.status_code == 404
        assert "This link is not valid" in response.get_data(as_text=True)


def test_the_chosen_password_follows_the_rules(app, client, db, admin):
    _invite(client)
    path = last_link(INVITEE)
    person = app.test_client()
    assert _accept(person, path, "short").status_code == 400
    response = _accept(person, path, CHOSEN, confirm="something else")
    assert response.status_code == 400 and "The two passwords differ." in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == INVITEE)) is None
    assert _accept(person, path).status_code == 303  # still usable after the refusals


def test_an_address_with_an_account_or_a_pending_invitation_is_refused(client, db, admin):
    existing = make_user("writer")
    response = _invite(client, email=existing.email)
    assert response.status_code == 400 and "already exists" in response.get_data(as_text=True)
    assert _invite(client).status_code == 303
    response = _invite(client)
    assert response.status_code == 400 and "already waiting" in response.get_data(as_text=True)
    assert len(db.session.scalars(select(Invitation)).all()) == 1


def test_an_account_made_meanwhile_stops_the_acceptance(app, client, db, admin):
    _invite(client)
    path = last_link(INVITEE)
    make_user("writer", email=INVITEE)  # e.g. with flask create-user, after the invitation went out
    response = _accept(app.test_client(), path)
    assert response.status_code == 400 and "exists already" in response.get_data(as_text=True)


def test_only_admins_invite(app, db, login, client):
    for role in ("writer", "editor", "reviewer"):
        login(make_user(role))
        assert client.get("/admin/invitations").status_code == 403
        assert client.get("/admin/invitations/new").status_code == 403
        assert _invite(client).status_code == 403
        client.post("/logout")
    assert db.session.scalars(select(Invitation)).all() == []
    with pytest.raises(Exception, match="Only admins invite"):
        invitations.invite(make_user("editor"), INVITEE, "Noor", ["writer"])


def test_missing_invitations_are_404_for_admins(client, db, admin):
    assert client.post("/admin/invitations/987654/revoke").status_code == 404
    assert client.post("/admin/invitations/987654/resend").status_code == 404


def test_the_admin_sees_pending_invitations_with_resend_and_revoke(client, db, admin):
    _invite(client)
    html = client.get("/admin/invitations").get_data(as_text=True)
    assert INVITEE in html and "Resend" in html and "Revoke" in html
    assert 'href="/admin/invitations"' in client.get("/admin/users").get_data(as_text=True)


def test_accepting_in_a_browser_signed_in_as_someone_else_ends_that_session(app, client, db, admin):
    _invite(client)
    path = last_link(INVITEE)
    assert _accept(client, path).status_code == 303  # the admin's own browser
    db.session.expire_all()
    live = {s.user_id for s in db.session.scalars(select(UserSession).where(UserSession.ended_at.is_(None)))}
    assert live == {db.session.scalar(select(User.id).where(User.email == INVITEE))}
    assert "Noor Haddad" in client.get("/account").get_data(as_text=True)
