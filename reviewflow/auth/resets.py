"""Password reset by e-mail: "Forgot your password?" on the log-in page.

Asking gives the same answer and the same page whether or not the address has an account, and does
the same work either way (one row, one e-mail, one audit event): an address with an active account
gets a one-time link valid for an hour, any other address an e-mail saying there is no account
for it. At most ``REQUESTS_PER_HOUR`` requests per address are acted on in an hour, whoever asks.
Using the link sets the password, ends every session and revokes every API token of the account,
and e-mails the person that the password changed (``services.after_password_change``).
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from reviewflow import policy, public_url
from reviewflow.audit import services as audit
from reviewflow.auth import links
from reviewflow.auth import services as accounts
from reviewflow.auth.models import PasswordReset, User
from reviewflow.extensions import db, utcnow
from reviewflow.notifications.services import queue_email

VALID_FOR = timedelta(hours=1)
REQUESTS_PER_HOUR = 3
#: Where the link leads; the view ``access.reset_password`` answers it.
RESET_PATH = "/password/reset/{token}"

RESET_MAIL = """Hello {name},

Someone (we hope you) asked to reset the password of your reviewflow account ({email}).
Choose a new password here within the next hour:

{link}

The link works once. When you use it, every session of yours ends and your API tokens are revoked.
If you did not ask, ignore this e-mail: your password stays as it is.
"""
NO_ACCOUNT_MAIL = """Hello,

Someone (we hope you) asked to reset the password of a reviewflow account for {email}, but there is
no active account for this address. If you expected one, ask your administrator to invite you, or
try the address you were invited with: {forgot}

If you did not ask, ignore this e-mail.
"""


def request_reset(email, ip: str = "") -> None:
    """Queue a reset link for ``email`` if it has an active account, else a mail saying it has none.

    The caller commits and answers the same whatever happened. Raises InvalidInput only for something
    that is not an e-mail address at all (a question of form, not of accounts).
    """
    email = accounts.normalize_email(email)
    now = utcnow()
    # One query whether or not the address has an account (``find_user`` would also load the roles of a hit).
    user = db.session.execute(select(User.id, User.name, User.active).where(User.email == email)).first()
    recent = db.session.scalar(select(func.count()).select_from(PasswordReset).where(
        PasswordReset.email == email, PasswordReset.created_at > now - timedelta(hours=1))) or 0
    if recent >= REQUESTS_PER_HOUR:
        return  # a flood of requests for one address: answered the same, not acted on
    known = user is not None and user.active
    plain, digest = links.new_token()
    db.session.add(PasswordReset(email=email, user_id=user.id if known else None, token_hash=digest,
                                 ip=(ip or "")[:64], expires_at=now + VALID_FOR))
    if known:
        body = RESET_MAIL.format(name=user.name, email=email,
                                 link=public_url.absolute(RESET_PATH.format(token=plain)))
    else:
        body = NO_ACCOUNT_MAIL.format(email=email, forgot=public_url.absolute("/password/forgot"))
    queue_email(email, "Reset your password", body)
    audit.record("auth.password_reset_requested", actor=None, role="anonymous", target_type="user",
                 target_label=email, actor_name="unknown", details={"email": email, "ip": ip})


def open_reset(plain) -> PasswordReset:
    """The reset behind a link, if it can still be used; else UnusableLink (unknown, used or expired)."""
    row = links.find(PasswordReset, plain)
    if row is None or row.user_id is None:
        raise links.UnusableLink("reset", "unknown", "This password reset link is not valid. Check that you "
                                 "copied the whole address from the e-mail, or ask for a new link.")
    if row.used_at is not None:
        raise links.UnusableLink("reset", "used", "This password reset link was already used, or a newer "
                                 "password made it void. Sign in with your password, or ask for a new link.")
    if row.expires_at <= utcnow():
        raise links.UnusableLink("reset", "expired", "This password reset link has expired: links work for "
                                 "one hour. Ask for a new one.")
    return row


def reset_password(plain, new_password) -> User:
    """Set a new password through a reset link: the link is used up, every session of the account ends,
    every API token is revoked, other reset links stop working and an e-mail tells the person.

    Raises UnusableLink for a link that cannot be used (also when two tabs use it at once: one wins),
    InvalidInput for a password that breaks the rules (the link stays usable).
    """
    row = open_reset(plain)
    accounts.validate_password(new_password)
    user = db.session.get(User, row.user_id, options=accounts.with_roles())
    if user is None or not user.active:
        raise links.UnusableLink("reset", "unknown", "This account is not active any more. Ask your "
                                 "administrator.")
    claimed = db.session.execute(update(PasswordReset).where(PasswordReset.id == row.id,
                                                             PasswordReset.used_at.is_(None))
                                 .values(used_at=utcnow()).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        raise links.UnusableLink("reset", "used", "This password reset link was just used. Sign in with "
                                 "your new password.")
    accounts.set_password(user, new_password)
    ended = accounts.after_password_change(user)
    audit.record("account.password_reset", actor=user, role=policy.acting_role(user), target=user,
                 target_label=user.email, details={"reset_id": row.id, **ended})
    return user
