"""Two-factor sign-in (TOTP, RFC 6238): the stored keys and recovery codes, and who must have them.

A person's ``TwoFactor`` row holds the key their authenticator app shares with reviewflow; it is
in force once ``confirmed_at`` is set (a code from the app proved the app holds the key). The
last 30-second step whose code was accepted is kept, so a code is never accepted twice, not
even within its own step. Ten recovery codes stand in for a lost phone, each once; only their
SHA-256 is stored.

``TWO_FACTOR_REQUIRED_ROLES`` (config) names the roles that must have it (reviewers, editors and
admins in production): such a person without it may only set it up or sign out
(``policy`` refuses everything else, and pages send them to the set-up page). Commands run on the
server (``flask …``) are not held: whoever runs them already has the machine.

The services that change these rows are in ``twofactor_services``; this module only holds data
and answers questions, so the policy can ask it without an import cycle.
"""
from __future__ import annotations

from datetime import datetime

from flask import current_app, has_app_context, has_request_context
from sqlalchemy import ForeignKey, Integer, String, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from reviewflow.extensions import UTCDateTime, db, utcnow

#: Where ``enabled`` remembers its answers for the rest of the unit of work (like ``policy.MEMO_KEY``).
MEMO_KEY = "reviewflow.two_factor"


class TwoFactor(db.Model):
    """One person's TOTP key: being set up (``confirmed_at`` empty) or in force."""

    __tablename__ = "two_factor"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    #: The shared key, base32, as the authenticator app holds it.
    secret: Mapped[str] = mapped_column(String(64))
    #: When a code from the app confirmed the set-up; until then the key is not asked for.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The 30-second time step of the last code accepted: codes of this step or earlier are refused.
    last_used_step: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RecoveryCode(db.Model):
    """A single-use code that replaces the app's code once (a lost phone). Only its SHA-256 is kept."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: SHA-256, in hex, of the code in lower case without spaces or dashes.
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def required_roles() -> tuple[str, ...]:
    return tuple(current_app.config.get("TWO_FACTOR_REQUIRED_ROLES") or ()) if has_app_context() else ()


def required_for(user) -> bool:
    """True when one of the person's roles must sign in with a second factor."""
    roles = required_roles()
    return bool(roles) and any(user.has_role(r) for r in roles)


def enabled(user) -> bool:
    """True when the person's second factor is in force (asked once per unit of work)."""
    memo = db.session.info.setdefault(MEMO_KEY, {})
    if user.id not in memo:
        memo[user.id] = db.session.scalar(
            select(TwoFactor.confirmed_at).where(TwoFactor.user_id == user.id)) is not None
    return memo[user.id]


def must_enrol(user) -> bool:
    """True when the person, acting through a request (a page or the API), has a role that needs a
    second factor and has none yet. The command line, run by whoever operates the server, is not held."""
    return has_request_context() and required_for(user) and not enabled(user)


@event.listens_for(Session, "after_flush")
@event.listens_for(Session, "after_transaction_end")
def forget(session, *args) -> None:
    """Drop the remembered answers whenever the session writes or its transaction ends."""
    session.info.pop(MEMO_KEY, None)
