"""Credential verification on the pages: the admin's form records who checked a reviewer's current
credentials, when and how; the assignment list, the signing page, the publish confirmation, the
certificate and the public reviewer page show that verification (the public page without the admin)."""
from __future__ import annotations

import html
import json
import re
from zoneinfo import ZoneInfo

import pytest
from flask import current_app
from sqlalchemy import select

from reviewflow.audit.models import AuditEvent
from reviewflow.auth import services as accounts
from reviewflow.auth.models import ReviewerProfile, User
from reviewflow.extensions import db as _db
from reviewflow.publishing import services as publishing
from reviewflow.reviews import services as reviews
from reviewflow.templating import human_date, when
from tests.factories import METHOD, PASSWORD, VERIFIER_EMAIL, make_article, make_user, verify

UTC_ZONE = ZoneInfo("UTC")

PHONE_CHECK = "Called the state medical board; licence confirmed active."


def text_of(response) -> str:
    """The page's visible text, tags dropped and whitespace collapsed, so sentences split by markup match."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.get_data(as_text=True), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).replace(" .", ".").replace(" ,", ",")


def staff_date(profile: ReviewerProfile) -> str:
    """How staff pages print the day of a verification (``utc_date``)."""
    return human_date(profile.verified_at)


def verified_events(db, reviewer) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "credentials.verified",
                                                            AuditEvent.target_id == reviewer.id)
                                   .order_by(AuditEvent.seq)))


def versions_of(db, reviewer) -> list[ReviewerProfile]:
    return list(db.session.scalars(select(ReviewerProfile).where(ReviewerProfile.user_id == reviewer.id)
                                   .order_by(ReviewerProfile.version)))


def actor(user: User) -> User:
    """The person as the app loads whoever acts: with roles and current profile."""
    return _db.session.get(User, user.id, options=accounts.with_roles(), populate_existing=True)


def approved(cast, publish: bool = False):
    """Dana approves Wren's article, attesting the whole checklist; Eddie publishes it if ``publish``."""
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    reviews.sign_decision(actor(cast["rev"]), article, article.current_revision, "approve", PASSWORD,
                          checklist=list(current_app.config["REVIEW_CHECKLIST"]))
    _db.session.commit()
    if publish:
        publishing.publish_revision(actor(cast["editor"]), article, article.current_revision, "First published.")
        _db.session.commit()
    return article


@pytest.fixture
def newcomer(db):
    """A reviewer whose credentials nobody has verified yet."""
    return make_user("reviewer", name="Noor Haddad", credentials="D.O.", specialty="Dermatology", verified=False)


# The admin's form ------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["", "   "])
def test_verifying_needs_a_method(cast, newcomer, login, client, db, method):
    login(cast["admin"])
    response = client.post(f"/admin/users/{newcomer.id}/verify", data={"method": method})
    assert response.status_code == 400
    page = text_of(response)
    assert "Say how you checked the credentials" in page and "Nothing was recorded." in page
    assert "How did you check them?" in page  # the form is back, with the error beside the field
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert [p.version for p in versions_of(db, newcomer)] == [1] and newcomer.profile.verified_at is None
    assert verified_events(db, newcomer) == []


def test_a_method_the_service_refuses_is_shown_on_the_form(cast, newcomer, login, client, db):
    login(cast["admin"])
    response = client.post(f"/admin/users/{newcomer.id}/verify", data={"method": "Looked up\nin the register"})
    assert response.status_code == 400
    assert "must be one line of text" in text_of(response)
    assert verified_events(db, newcomer) == [] and len(versions_of(db, newcomer)) == 1


def test_admin_page_asks_how_and_records_it(cast, newcomer, login, client, db):
    admin = cast["admin"]
    login(admin)
    page = text_of(client.get(f"/admin/users/{newcomer.id}"))
    assert "Not verified Noor Haddad cannot be assigned or sign a decision until an admin verifies" in page
    assert "How did you check them?" in page and "Licence looked up in the issuing board’s public register" in page

    response = client.post(f"/admin/users/{newcomer.id}/verify", data={"method": f"  {PHONE_CHECK} "})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/admin/users/{newcomer.id}")
    db.session.expire_all()
    current = newcomer.profile
    assert current.version == 2 and current.verified_by_id == admin.id and current.verified_at is not None
    assert current.verification_method == PHONE_CHECK
    assert versions_of(db, newcomer)[0].verified_at is None  # the version checked is kept as it was
    (event,) = verified_events(db, newcomer)
    details = json.loads(event.details)
    assert event.actor_id == admin.id and event.actor_role == "admin"
    assert details["method"] == PHONE_CHECK and details["verified_version"] == 1 and details["version"] == 2

    page = text_of(client.get(f"/admin/users/{newcomer.id}"))
    assert "credentials are verified (profile version 2)" in page  # the flash
    assert f"Verified by Ada Admin, {when(current.verified_at, UTC_ZONE)}. How: {PHONE_CHECK}" in page
    assert f"How: {PHONE_CHECK}" in page  # the history table, beside "Verified by …"
    assert "How did you check them?" not in page


@pytest.mark.parametrize("who", ["writer", "editor", "rev"])
def test_only_admins_verify(cast, newcomer, login, client, db, who):
    login(cast[who])
    response = client.post(f"/admin/users/{newcomer.id}/verify", data={"method": METHOD})
    assert response.status_code == 403
    assert client.post("/admin/users/424242/verify", data={"method": METHOD}).status_code == 403  # no leak
    db.session.expire_all()
    assert newcomer.profile.verified_at is None and verified_events(db, newcomer) == []


def test_nobody_verifies_their_own_credentials(cast, login, client, db):
    both = make_user("admin", "reviewer", name="Sam Both", verified=False)
    login(both)
    page = text_of(client.get(f"/admin/users/{both.id}"))
    assert "You cannot verify your own credentials: another admin must check them." in page
    assert "How did you check them?" not in page
    response = client.post(f"/admin/users/{both.id}/verify", data={"method": METHOD})
    assert response.status_code == 403
    db.session.expire_all()
    assert both.profile.verified_at is None and verified_events(db, both) == []

    client.post("/logout")
    login(cast["admin"])
    assert client.post(f"/admin/users/{both.id}/verify", data={"method": METHOD}).status_code == 303
    db.session.expire_all()
    assert both.profile.verified_by_id == cast["admin"].id


def test_reviewers_account_page_shows_how_each_version_was_verified(cast, login, client, db):
    rev = cast["rev"]
    login(rev)
    page = text_of(client.get("/account"))
    assert f"Verified by Credentials Desk, {when(rev.profile.verified_at, UTC_ZONE)}" in page
    assert f"How: {METHOD}" in page and "are not verified yet" not in page
    accounts.save_profile(cast["admin"], rev, {"credentials": "M.D., Ph.D., FAAD", "specialty": "Dermatology",
                                               "license_number": "GA-9", "license_expires": "2031-03-31"})
    db.session.commit()
    page = text_of(client.get("/account"))
    assert "Your current credentials (version 3) are not verified yet." in page
    assert f"How: {METHOD}" in page  # version 2 keeps its verification


# Where the verification is shown ---------------------------------------------------------------------

def test_assignment_list_shows_each_reviewers_verification(cast, newcomer, login, client, db):
    article = make_article(cast["writer"], "submitted")
    rev = cast["rev"]
    login(cast["editor"])
    response = client.get(f"/work/articles/{article.id}/assign")
    assert response.status_code == 200
    page = text_of(response)
    assert f"Credentials verified on {staff_date(rev.profile)} by Credentials Desk" in page
    assert f"How: {METHOD}" in page
    assert "Noor Haddad" in page and "Not verified — cannot be assigned until an admin verifies them" in page
    # the reason column is the service's own reason, and the choice is disabled
    assert "Noor Haddad's current credentials (version 1) are not verified yet" in page
    row = re.search(rf'<option disabled value="{newcomer.id}">[^<]*</option>', response.get_data(as_text=True))
    assert row and "not verified" in html.unescape(row.group(0))
    assert client.post(f"/work/articles/{article.id}/assign", data={"reviewer": newcomer.id}).status_code == 409

    verify(newcomer, by=cast["admin"], method=PHONE_CHECK)
    page = text_of(client.get(f"/work/articles/{article.id}/assign"))
    assert f"Credentials verified on {staff_date(newcomer.profile)} by Ada Admin" in page
    assert "Not verified — cannot be assigned" not in page
    assert client.post(f"/work/articles/{article.id}/assign", data={"reviewer": newcomer.id}).status_code == 303


def test_signing_page_shows_the_verification_the_signature_records(cast, login, client, db):
    rev = cast["rev"]
    article = make_article(cast["writer"], "in_review", reviewer=rev, editor=cast["editor"])
    login(rev)
    response = client.get(f"/work/articles/{article.id}/sign?decision=approve")
    assert response.status_code == 200
    page = text_of(response)
    assert (f"Verification Credentials verified on {staff_date(rev.profile)} by Credentials Desk. How: {METHOD} "
            f"Your signature records this version ({rev.profile.version}) of your credentials") in page
    assert 'name="password"' in response.get_data(as_text=True)

    # new credentials make a new, unverified version: nothing can be signed under it
    accounts.save_profile(cast["admin"], rev, {"credentials": "M.D., Ph.D.", "specialty": "Dermatology",
                                               "license_number": "GA-NEW", "license_expires": "2031-03-31"})
    db.session.commit()
    response = client.get(f"/work/articles/{article.id}/sign?decision=approve")
    page = text_of(response)
    assert "Not verified. Version 3 of your credentials has not been verified by an admin" in page
    assert "are not verified yet" in page  # the service's reason, as the problem
    assert 'name="password"' not in response.get_data(as_text=True)


def test_publish_confirmation_shows_each_signers_verification(cast, login, client, db):
    rev, rev2, admin = cast["rev"], cast["rev2"], cast["admin"]
    article = approved(cast)
    login(cast["editor"])
    response = client.get(f"/work/articles/{article.id}/publish")
    assert response.status_code == 200
    page = text_of(response)
    assert "Dana Okafor, M.D., Ph.D. (Dermatology)" in page
    assert (f"Licence {rev.profile.license_number}, valid to 31 Dec 2099. Credentials verified on "
            f"{staff_date(rev.profile)} by Credentials Desk. How: {METHOD}") in page
    assert rev2.name not in page and admin.name not in page


def test_certificate_shows_the_verification_of_the_version_signed_under(cast, login, client, db):
    rev, admin = cast["rev"], cast["admin"]
    article = approved(cast, publish=True)
    signed_under = rev.profile
    verified_at = when(signed_under.verified_at, UTC_ZONE, seconds=True)
    # later the reviewer's credentials change and another admin verifies them: the certificate keeps the old
    accounts.save_profile(admin, rev, {"credentials": "M.D., Ph.D., FAAD", "specialty": "Dermatology",
                                       "license_number": "GA-NEW", "license_expires": "2031-03-31"})
    db.session.commit()
    verify(rev, by=admin, method=PHONE_CHECK)
    login(cast["editor"])
    response = client.get(f"/work/articles/{article.id}/versions/1/certificate")
    assert response.status_code == 200
    page = text_of(response)
    assert (f"Credential profile signed under Version {signed_under.version} "
            f"Credentials verified {verified_at} by Credentials Desk How: {METHOD}") in page
    assert PHONE_CHECK not in page and "Ada Admin" not in page and "FAAD" not in page


def test_public_reviewer_page_shows_when_without_the_admin(cast, newcomer, client, db):
    rev = cast["rev"]
    response = client.get(f"/reviewers/{rev.id}")
    assert response.status_code == 200
    page = text_of(response)
    assert f"Credentials verified on {human_date(rev.profile.verified_at)}" in page
    assert f"How: {METHOD}" in page
    assert VERIFIER_EMAIL not in response.get_data(as_text=True) and "Credentials Desk" not in page

    page = text_of(client.get(f"/reviewers/{newcomer.id}"))
    assert "These credentials have not been verified yet." in page and "Credentials verified on" not in page


def test_public_index_claims_only_what_is_guaranteed(cast, client, db):
    approved(cast, publish=True)
    page = text_of(client.get("/articles"))
    assert "approved before it is published by a medical reviewer whose credentials we verified" in page
    assert "credentialed reviewer" not in page and "at least once a year" not in page
