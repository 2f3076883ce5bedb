"""The admin pages: only admins get in; creating, editing, deactivating accounts, versioned
credential profiles and their verification, each with its audit event."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from reviewflow.audit.models import AuditEvent
from reviewflow.auth import services as accounts
from reviewflow.auth.models import ReviewerProfile, User
from tests.factories import PASSWORD, make_user

PROFILE_FIELDS = ["credentials", "specialty", "license_number", "license_jurisdiction", "license_expires",
                  "affiliation", "organization", "bio"]


def events(db, action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def account_form(user: User, **changes) -> dict:
    data = {"u-name": user.name, "u-email": user.email, "u-roles": user.roles, "u-bio": user.bio,
            "u-active": "y", "u-submit": "1"}
    data.update({f"u-{k}": v for k, v in changes.items()})
    return {k: v for k, v in data.items() if v is not None}


def profile_form(**values) -> dict:
    data = {"credentials": "M.D.", "specialty": "Dermatology", "license_number": "GA-1",
            "license_jurisdiction": "Georgia, USA", "license_expires": "2030-06-30", "affiliation": "Lakeside Clinic",
            "organization": "Northwind Review Network", "bio": "Board-certified dermatologist."}
    data.update(values)
    return {**{f"p-{k}": v for k, v in data.items()}, "p-submit": "1"}


def profiles_of(db, user: User) -> list[ReviewerProfile]:
    return list(db.session.scalars(select(ReviewerProfile).where(ReviewerProfile.user_id == user.id)
                                   .order_by(ReviewerProfile.version)))


@pytest.mark.parametrize("who", ["writer", "editor", "rev"])
def test_admin_pages_refuse_everyone_else(cast, login, client, who):
    login(cast[who])
    target = cast["rev2"].id
    assert client.get("/admin/users").status_code == 403
    assert client.get("/admin/users/new").status_code == 403
    assert client.post("/admin/users/new", data={"email": "x@example.org"}).status_code == 403
    assert client.get(f"/admin/users/{target}").status_code == 403
    assert client.post(f"/admin/users/{target}", data=account_form(cast["rev2"], active=None)).status_code == 403
    assert client.post(f"/admin/users/{target}/verify").status_code == 403
    assert cast["rev2"].active


def test_admin_pages_send_anonymous_visitors_to_log_in(cast, client):
    for path in ("/admin/users", "/admin/users/new", f"/admin/users/{cast['rev'].id}"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    response = client.post(f"/admin/users/{cast['rev'].id}/verify")
    assert response.status_code == 303 and "/login" in response.headers["Location"]


def test_people_list_searches_and_pages(app, cast, login, client):
    login(cast["admin"])
    html = client.get("/admin/users").get_data(as_text=True)
    for user in cast.values():
        assert user.name in html
    assert "New account" in html
    assert "Expired" in html  # the expired reviewer's licence
    found = client.get("/admin/users?q=okaf").get_data(as_text=True)
    assert "Dana Okafor" in found and "Wren Alder" not in found
    assert "No one matches" in client.get("/admin/users?q=zzz%25").get_data(as_text=True)
    for n in range(app.config["PER_PAGE"]):
        make_user("writer", name=f"Zed Writer {n:02d}")
    first = client.get("/admin/users").get_data(as_text=True)
    assert "page=2" in first and "Zed Writer 24" not in first
    assert "Zed Writer 24" in client.get("/admin/users?page=2").get_data(as_text=True)


def test_admin_creates_an_account(cast, login, client, db):
    admin = cast["admin"]
    login(admin)
    created_before = len(events(db, "account.created"))
    assert client.get("/admin/users/new").status_code == 200
    response = client.post("/admin/users/new", data={
        "email": "Nia.Obi@example.org", "name": "Nia Obi", "password": "A-long-enough-password",
        "roles": ["writer", "reviewer"], "bio": "Health writer.", "active": "y"})
    assert response.status_code == 303
    user = accounts.find_user("nia.obi@example.org")
    assert user is not None and user.roles == ["reviewer", "writer"] and user.active
    created = events(db, "account.created")[-1]
    assert created.actor_id == admin.id and created.actor_role == "admin" and created.target_id == user.id
    assert "A-long-enough-password" not in created.details
    assert response.headers["Location"].endswith(f"/admin/users/{user.id}")
    assert "no credentials yet" in client.get(f"/admin/users/{user.id}").get_data(as_text=True)

    again = client.post("/admin/users/new", data={"email": "nia.obi@example.org", "name": "Nia Two",
                                                   "password": "A-long-enough-password", "roles": ["writer"]})
    assert again.status_code == 400 and "already exists" in again.get_data(as_text=True)
    assert len(events(db, "account.created")) == created_before + 1
    short = client.post("/admin/users/new", data={"email": "z@example.org", "name": "Z", "password": "short",
                                                   "roles": ["writer"]})
    assert short.status_code == 400 and accounts.find_user("z@example.org") is None


def test_admin_changes_roles(cast, login, client, db):
    login(cast["admin"])
    writer = cast["writer"]
    response = client.post(f"/admin/users/{writer.id}", data=account_form(writer, roles=["writer", "editor"]))
    assert response.status_code == 303
    db.session.expire_all()
    assert writer.roles == ["editor", "writer"]
    changed = events(db, "account.roles_changed")
    assert len(changed) == 1 and changed[0].target_id == writer.id
    page = client.get(f"/admin/users/{writer.id}").get_data(as_text=True)
    assert 'checked id="u-roles-2" name="u-roles"' in page and 'value="editor"' in page


def test_admin_cannot_remove_own_admin_role(cast, login, client, db):
    admin = cast["admin"]
    login(admin)
    response = client.post(f"/admin/users/{admin.id}", data=account_form(admin, roles=["editor"]))
    assert response.status_code == 400 and "cannot remove your own admin role" in response.get_data(as_text=True)
    db.session.expire_all()
    assert admin.roles == ["admin"]


def test_deactivated_people_cannot_log_in(app, cast, login, client, db):
    writer = cast["writer"]
    theirs = app.test_client()
    assert theirs.post("/login", data={"email": writer.email, "password": PASSWORD}).status_code == 303
    login(cast["admin"])
    response = client.post(f"/admin/users/{writer.id}", data=account_form(writer, active=None))
    assert response.status_code == 303
    db.session.expire_all()
    assert not writer.active
    assert events(db, "account.updated")[-1].target_id == writer.id
    assert theirs.get("/dashboard").status_code == 302  # their open session ended
    fresh = app.test_client()
    assert fresh.post("/login", data={"email": writer.email, "password": PASSWORD}).status_code != 303
    assert "Inactive" in client.get("/admin/users").get_data(as_text=True)


def test_credentials_saved_twice_keep_both_versions(cast, login, client, db):
    rev = cast["rev"]
    login(cast["admin"])
    before = profiles_of(db, rev)  # version 1, and version 2 that verified it
    original = {f: getattr(before[-1], f) for f in PROFILE_FIELDS}
    first = client.post(f"/admin/users/{rev.id}", data=profile_form(credentials="M.D., Ph.D.", license_number="GA-2"))
    assert first.status_code == 303
    v2 = {f: getattr(profiles_of(db, rev)[-1], f) for f in PROFILE_FIELDS}
    second = client.post(f"/admin/users/{rev.id}", data=profile_form(credentials="M.D., Ph.D., FAAD",
                                                                      license_number="GA-3"))
    assert second.status_code == 303
    db.session.expire_all()
    versions = profiles_of(db, rev)
    assert [p.version for p in versions] == [1, 2, 3, 4]
    assert {f: getattr(versions[1], f) for f in PROFILE_FIELDS} == original
    assert {f: getattr(versions[2], f) for f in PROFILE_FIELDS} == v2
    assert versions[2].credentials == "M.D., Ph.D." and versions[2].license_number == "GA-2"
    assert rev.profile.version == 4 and rev.profile.credentials == "M.D., Ph.D., FAAD"
    assert versions[1].verified_at is not None and rev.profile.verified_at is None  # changed: verify again
    assert len(events(db, "credentials.changed")) == 3 + 2  # three reviewers in the cast, then two saves
    page = client.get(f"/admin/users/{rev.id}").get_data(as_text=True)
    assert "GA-2" in page and "GA-3" in page and "Profile history" in page


def test_invalid_profile_keeps_the_account_form_intact(cast, login, client, db):
    rev = cast["rev"]
    login(cast["admin"])
    before = len(profiles_of(db, rev))
    response = client.post(f"/admin/users/{rev.id}", data=profile_form(credentials="", license_expires="soon"))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'checked id="u-active" name="u-active"' in html  # not cleared by the other form's post
    assert 'checked id="u-roles-1" name="u-roles"' in html
    assert len(profiles_of(db, rev)) == before


def test_admin_verifies_credentials(cast, login, client, db):
    admin = cast["admin"]
    rev = make_user("reviewer", name="Noor Haddad", verified=False)
    login(admin)
    page = client.get(f"/admin/users/{rev.id}").get_data(as_text=True)
    assert "Mark credentials verified" in page and "How did you check them?" in page
    response = client.post(f"/admin/users/{rev.id}/verify", data={"method": "Licence looked up in the register."})
    assert response.status_code == 303
    db.session.expire_all()
    current = rev.profile
    assert current.version == 2 and current.verified_by_id == admin.id and current.verified_at is not None
    assert current.verification_method == "Licence looked up in the register."
    assert profiles_of(db, rev)[0].verified_at is None  # the earlier version is unchanged
    verified = [e for e in events(db, "credentials.verified") if e.target_id == rev.id]
    assert len(verified) == 1 and verified[0].actor_id == admin.id
    page = client.get(f"/admin/users/{rev.id}").get_data(as_text=True)
    assert "Mark credentials verified" not in page and "by Ada Admin" in page
    assert client.post(f"/admin/users/{rev.id}/verify", data={"method": "Again."}).status_code == 409
    assert client.post(f"/admin/users/{cast['writer'].id}/verify",
                       data={"method": "Looked up."}).status_code == 409  # no profile


def test_admin_sees_and_revokes_a_persons_tokens(cast, login, client, db):
    rev = cast["rev"]
    token, plain = accounts.create_token(None, rev, "Reference manager")
    db.session.commit()
    login(cast["admin"])
    page = client.get(f"/admin/users/{rev.id}").get_data(as_text=True)
    assert "Reference manager" in page and token.prefix in page and plain not in page
    response = client.post(f"/account/tokens/{token.id}/revoke",
                           headers={"Referer": f"http://localhost/admin/users/{rev.id}"})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/admin/users/{rev.id}")
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"}).status_code == 401
    revoked = events(db, "token.revoked")
    assert len(revoked) == 1 and revoked[0].actor_id == cast["admin"].id


def test_unknown_person_is_404(cast, login, client):
    login(cast["admin"])
    assert client.get("/admin/users/424242").status_code == 404
    assert client.post("/admin/users/424242/verify").status_code == 404
