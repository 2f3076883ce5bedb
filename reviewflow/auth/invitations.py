"""Invitations: an admin invites a person by e-mail with their roles (and, for a reviewer, the credentials
to verify); the person opens a one-time link and sets their own password, which makes the account.

The link's token is stored as its SHA-256 only and works for ``VALID_FOR`` (seven days). An admin can
revoke a pending invitation, or resend it: a resend makes a new link (the old one stops working) and
starts the seven days again. Each of these is one transaction with its audit event. A reviewer's
credentials become the account's first profile version, unverified, so an admin verifies them before
the reviewer can be assigned or sign.
"""
from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import select, update

from reviewflow import policy, public_url
from reviewflow.audit import services as audit
from reviewflow.auth import links
from reviewflow.auth import services as accounts
from reviewflow.auth.models import Invitation, User, UserRole
from reviewflow.errors import Conflict, NotFound
from reviewflow.extensions import db, utcnow
from reviewflow.notifications.services import queue_email
from reviewflow.textrules import multi_line, one_line

VALID_FOR = timedelta(days=7)
#: Where the link leads; the view ``access.accept_invitation`` answers it.
ACCEPT_PATH = "/invitations/{token}"

INVITATION_MAIL = """Hello {name},

{inviter} invites you to reviewflow, {site}'s editorial back office, as {roles}.

Open this link to choose your password and sign in (it works once, until {expires} UTC):

{link}

If you were not expecting this, ignore this e-mail; without your password no account is made.
"""


def invite(actor, email, name, roles, bio: str = "", profile: dict | None = None) -> tuple[Invitation, str]:
    """Invite ``email`` with ``roles`` (admins); returns the invitation and its link's token, which is
    e-mailed and never stored. A reviewer's ``profile`` is checked now and saved when they accept.

    Raises Forbidden for anyone but an admin, InvalidInput for a bad field (named), Conflict when the
    address has an account or a pending invitation already.
    """
    policy.require(actor, "account.invite")
    email = accounts.normalize_email(email)
    name = one_line(name, "name", accounts.NAME_MAX)
    bio = multi_line(bio or "", "bio", accounts.BIO_MAX, required=False)
    roles = accounts.clean_roles(roles)
    values = accounts.clean_profile(profile or {}) if "reviewer" in roles else None
    if accounts.find_user(email):
        raise Conflict(f"An account for {email} already exists.")
    if pending_for(email) is not None:
        raise Conflict(f"An invitation to {email} is already waiting. Resend it or revoke it.")
    plain, digest = links.new_token()
    invitation = Invitation(email=email, name=name, roles=",".join(roles), bio=bio or "",
                            profile_json=json.dumps(values, default=str, sort_keys=True) if values else "",
                            token_hash=digest, created_by_id=actor.id, expires_at=utcnow() + VALID_FOR)
    db.session.add(invitation)
    db.session.flush()
    _send(invitation, plain, actor)
    audit.record("invitation.created", actor=actor, role="admin", target=invitation, target_label=email,
                 details={"email": email, "name": name, "roles": roles,
                          **({"credentials": values["credentials"], "license_number": values["license_number"]}
                             if values else {})})
    return invitation, plain


def resend(actor, invitation: Invitation) -> str:
    """Send a pending (or expired) invitation again with a new link, valid seven days from now; the old
    link stops working. Conflict once it was accepted or revoked."""
    policy.require(actor, "account.invite")
    _require_open(invitation)
    plain, digest = links.new_token()
    now = utcnow()
    invitation.token_hash, invitation.sent_at, invitation.expires_at = digest, now, now + VALID_FOR
    db.session.flush()
    _send(invitation, plain, actor)
    audit.record("invitation.resent", actor=actor, role="admin", target=invitation, target_label=invitation.email,
                 details={"email": invitation.email})
    return plain


def revoke(actor, invitation: Invitation) -> None:
    """Revoke a pending invitation: its link then gets a page saying so. Conflict once accepted or revoked."""
    policy.require(actor, "account.invite")
    _require_open(invitation)
    invitation.revoked_at, invitation.revoked_by_id = utcnow(), actor.id
    db.session.flush()
    audit.record("invitation.revoked", actor=actor, role="admin", target=invitation,
                 target_label=invitation.email, details={"email": invitation.email})


def _require_open(invitation: Invitation) -> None:
    if invitation.accepted_at is not None:
        raise Conflict(f"The invitation to {invitation.email} was accepted already.")
    if invitation.revoked_at is not None:
        raise Conflict(f"The invitation to {invitation.email} was revoked already.")


def _send(invitation: Invitation, plain: str, actor) -> None:
    queue_email(invitation.email, "You are invited to reviewflow", INVITATION_MAIL.format(
        name=invitation.name, inviter=actor.name, site=public_url.site_name(),
        roles=", ".join(r.capitalize() for r in invitation.role_list),
        expires=invitation.expires_at.strftime("%Y-%m-%d %H:%M"),
        link=public_url.absolute(ACCEPT_PATH.format(token=plain))))


def open_invitation(plain) -> Invitation:
    """The invitation behind a link, if it can still be accepted; else UnusableLink saying why."""
    invitation = links.find(Invitation, plain)
    if invitation is None:
        raise links.UnusableLink("invitation", "unknown", "This invitation link is not valid. Check that you "
                                 "copied the whole address from the e-mail; if the invitation was sent again, "
                                 "only the newest link works.")
    if invitation.accepted_at is not None:
        raise links.UnusableLink("invitation", "used", "This invitation was already accepted. Sign in with the "
                                 "password you chose; if you forgot it, reset it from the log-in page.")
    if invitation.revoked_at is not None:
        raise links.UnusableLink("invitation", "revoked", "This invitation was withdrawn by an administrator. "
                                 "Ask them for a new one if you still need an account.")
    if invitation.expires_at <= utcnow():
        raise links.UnusableLink("invitation", "expired", "This invitation has expired: invitations work for "
                                 "seven days. Ask your administrator to send it again.")
    return invitation


def accept(plain, password) -> User:
    """Accept an invitation: the account is made with the invited roles, the password chosen here and,
    for a reviewer, the credentials as an unverified first profile version. One audit event.

    Raises UnusableLink for a link that cannot be used (also when two tabs accept at once: one wins),
    InvalidInput for a password that breaks the rules (the link stays usable), and Conflict when an
    account for the address was made meanwhile.
    """
    invitation = open_invitation(plain)
    accounts.validate_password(password)
    if accounts.find_user(invitation.email):
        raise Conflict(f"An account for {invitation.email} exists already. Sign in, or reset its password from "
                       "the log-in page.")
    user = User(email=invitation.email, name=invitation.name, password_hash=accounts.hash_password(password),
                bio=invitation.bio)
    user.role_rows = [UserRole(role=r) for r in invitation.role_list]
    db.session.add(user)
    db.session.flush()
    claimed = db.session.execute(
        update(Invitation).where(Invitation.id == invitation.id, Invitation.accepted_at.is_(None),
                                 Invitation.revoked_at.is_(None))
        .values(accepted_at=utcnow(), user_id=user.id).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        raise links.UnusableLink("invitation", "used", "This invitation was just accepted. Sign in with the "
                                 "password you chose.")
    details = {"invitation_id": invitation.id, "email": user.email, "name": user.name,
               "roles": invitation.role_list, "invited_by_id": invitation.created_by_id}
    if invitation.profile_json:
        values = json.loads(invitation.profile_json)
        values["license_expires"] = date.fromisoformat(values["license_expires"])
        profile = accounts.add_profile_version(user, values, invitation.created_by_id)
        details.update(profile_version=profile.version, credentials=profile.credentials,
                       license_number=profile.license_number)
    audit.record("invitation.accepted", actor=user, role=policy.acting_role(user), target=user, target_label=user.email,
                 details=details)
    return user


def get_invitation(invitation_id) -> Invitation:
    invitation = db.session.get(Invitation, invitation_id) if 0 < invitation_id < 2**31 else None
    if invitation is None:
        raise NotFound("There is no such invitation.")
    return invitation


def pending_for(email: str) -> Invitation | None:
    """The open invitation (neither accepted nor revoked, expired or not) for this address."""
    return db.session.scalar(select(Invitation).where(Invitation.email == email, Invitation.accepted_at.is_(None),
                                                      Invitation.revoked_at.is_(None)).limit(1))


def open_invitations() -> list[Invitation]:
    """Invitations not yet accepted or revoked (expired ones too: they can be resent), newest first."""
    return list(db.session.scalars(select(Invitation).where(Invitation.accepted_at.is_(None),
                                                            Invitation.revoked_at.is_(None))
                                   .order_by(Invitation.created_at.desc(), Invitation.id.desc())))
