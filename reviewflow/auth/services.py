"""Accounts, passwords, log-in throttling, reviewer profiles and API tokens.

A password change (here, or a reset by e-mail in ``resets``) ends the person's sessions (but the
browser that changed it), revokes every API token, voids pending reset links and e-mails the person.

Passwords are hashed with Argon2id. Log-in attempts are counted in the database per
(account, address) pair and per address (``throttle``), so the limits hold across workers
and machines. Messages never reveal whether an email exists.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import secrets
from datetime import date, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_request_context, request, session
from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import joinedload, selectinload

from reviewflow import policy, public_url
from reviewflow.audit import services as audit
from reviewflow.auth import sessions, throttle, twofactor
from reviewflow.auth.models import ApiToken, PasswordReset, ReviewerProfile, Role, User, UserRole
from reviewflow.errors import Conflict, InvalidInput
from reviewflow.extensions import db, utcnow
from reviewflow.ids import get_or_404
from reviewflow.notifications.services import queue_email
from reviewflow.outages import DB_UNAVAILABLE, database_unavailable
from reviewflow.textrules import multi_line, one_line

_STRONG = PasswordHasher()  # Argon2id with the library's current parameters
_FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # tests only (TestConfig)
ROLE_NAMES = [r.value for r in Role]


def _hasher() -> PasswordHasher:
    return _FAST if current_app.config.get("FAST_PASSWORD_HASHING") else _STRONG


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """Checked against when the email is unknown, so a miss costs as much time as a hit."""
    return hasher.hash("reviewflow-dummy-password")




def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_password(user: User, password: str) -> bool:
    try:
        return _hasher().verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def validate_password(password) -> str:
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if not isinstance(password, str) or len(password) < minimum:
        raise InvalidInput(f"Passwords need at least {minimum} characters.", field="password")
    if len(password) > 1024:
        raise InvalidInput("Passwords can be at most 1024 characters.", field="password")
    return password


NAME_MAX, BIO_MAX = 120, 5000


def normalize_email(email) -> str:
    if not isinstance(email, str) or "@" not in email or len(email) > 254 or email.strip() != email.strip(" ") \
            or any(ord(c) < 32 or ord(c) == 127 for c in email):
        raise InvalidInput("Enter a valid email address.", field="email")
    return email.strip().lower()


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()).options(*with_roles()))


def get_user(user_id) -> User:
    return get_or_404(User, user_id, "There is no such person.", options=with_roles())


def clean_roles(roles) -> list[str]:
    roles = sorted(set(roles or []))
    bad = [r for r in roles if r not in ROLE_NAMES]
    if bad or not roles:
        raise InvalidInput(f"Roles must be among {', '.join(ROLE_NAMES)}.", field="roles")
    return roles


def create_user(actor, email, name, password, roles, bio: str = "", profile: dict | None = None,
                role: str = "admin") -> User:
    """Create an account (admins, or the command line with ``actor=None``)."""
    if actor is not None:
        policy.require(actor, "admin.manage")
    email = normalize_email(email)
    name = one_line(name, "name", NAME_MAX)
    bio = multi_line(bio or "", "bio", BIO_MAX, required=False)
    validate_password(password)
    roles = clean_roles(roles)
    if find_user(email):
        raise Conflict(f"An account for {email} already exists.")
    user = User(email=email, name=name.strip(), password_hash=hash_password(password), bio=bio or "")
    user.role_rows = [UserRole(role=r) for r in roles]
    db.session.add(user)
    db.session.flush()
    audit.record("account.created", actor=actor, role=role if actor else "system", target=user,
                 target_label=user.email, details={"email": email, "name": user.name, "roles": roles})
    if profile is not None:
        save_profile(actor, user, profile, role=role)
    return user


def update_user(actor, user: User, name=None, email=None, bio=None, roles=None, active=None) -> User:
    """Change a person's details, roles or active flag (admins). Deactivation ends their sessions."""
    policy.require(actor, "admin.manage")
    changes: dict = {}
    if name is not None and name.strip() != user.name:
        name = one_line(name, "name", NAME_MAX)
        changes["name"] = [user.name, name]
        user.name = name.strip()
    if email is not None and normalize_email(email) != user.email:
        email = normalize_email(email)
        if find_user(email):
            raise Conflict(f"An account for {email} already exists.")
        changes["email"] = [user.email, email]
        user.email = email
    if bio is not None and bio != user.bio:
        multi_line(bio, "bio", BIO_MAX, required=False)
        changes["bio"] = "changed"
        user.bio = bio
    if roles is not None:
        roles = clean_roles(roles)
        if roles != user.roles:
            if actor.id == user.id and "admin" not in roles:
                raise Conflict("You cannot remove your own admin role.")
            changes["roles"] = [user.roles, roles]
            user.role_rows = [r for r in user.role_rows if r.role in roles] + [
                UserRole(role=r) for r in roles if r not in user.roles]
    if active is not None and active != user.active:
        if actor.id == user.id and not active:
            raise Conflict("You cannot deactivate your own account.")
        changes["active"] = [user.active, active]
        user.active = active
        user.session_generation += 1
        sessions.end_sessions(user)
    if changes:
        db.session.flush()
        action = "account.roles_changed" if set(changes) == {"roles"} else "account.updated"
        audit.record(action, actor=actor, role="admin", target=user, target_label=user.email, details=changes)
    return user


PROFILE_FIELDS = ("credentials", "specialty", "license_number", "license_jurisdiction", "license_expires",
                  "affiliation", "organization", "bio")


def clean_profile(data: dict) -> dict:
    """A reviewer's credential profile checked field by field: the values to store.

    Raises InvalidInput (naming the field) for a missing credential, specialty, licence number or expiry,
    a date that is not YYYY-MM-DD, or control characters.
    """
    values = {k: (data.get(k) or "") for k in PROFILE_FIELDS}
    for field in PROFILE_FIELDS:
        if isinstance(values[field], str):
            (multi_line if field == "bio" else one_line)(values[field], field, BIO_MAX if field == "bio" else 200,
                                                         required=False)
    for required in ("credentials", "specialty", "license_number"):
        if not isinstance(values[required], str) or not values[required].strip():
            raise InvalidInput(f"The {required.replace('_', ' ')} is required for a reviewer.", field=required)
    expires = values["license_expires"]
    if isinstance(expires, str):
        try:
            expires = date.fromisoformat(expires)
        except ValueError:
            raise InvalidInput("The licence expiry must be a date, YYYY-MM-DD.", field="license_expires") from None
    if not isinstance(expires, date):
        raise InvalidInput("The licence expiry is required.", field="license_expires")
    values["license_expires"] = expires
    return {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()}


def add_profile_version(user: User, values: dict, created_by_id: int | None) -> ReviewerProfile:
    """Store ``values`` (from ``clean_profile``) as the reviewer's next, current, unverified profile version."""
    version = (db.session.scalar(select(func.max(ReviewerProfile.version))
                                 .where(ReviewerProfile.user_id == user.id)) or 0) + 1
    profile = ReviewerProfile(user_id=user.id, version=version, created_by_id=created_by_id, **values)
    db.session.add(profile)
    user.profile_version = version
    db.session.flush()
    db.session.expire(user, ["profile"])
    return profile


def save_profile(actor, user: User, data: dict, role: str = "admin") -> ReviewerProfile:
    """Add a new version of a reviewer's credential profile; earlier versions are kept unchanged."""
    if actor is not None:
        policy.require(actor, "admin.manage")
    values = clean_profile(data)
    current = user.profile
    if current is not None and all(getattr(current, k) == values[k] for k in PROFILE_FIELDS):
        return current
    profile = add_profile_version(user, values, getattr(actor, "id", None))
    audit.record("credentials.changed", actor=actor, role=role if actor else "system", target=user,
                 target_label=user.email,
                 details={"version": profile.version, **{k: str(v) for k, v in values.items() if k != "bio"}})
    return profile


VERIFICATION_METHOD_MAX = 500


def verify_profile(actor, user: User, method) -> ReviewerProfile:
    """Record that an admin checked the current credentials, and how (a new profile version, verified).

    Only a verified current profile lets a reviewer be assigned or sign. Raises Forbidden for
    anyone but an admin, Conflict when there is nothing (new) to verify, InvalidInput without a method.
    """
    policy.require(actor, "credentials.verify", user)
    method = one_line(method, "method", VERIFICATION_METHOD_MAX)
    current = user.profile
    if current is None:
        raise Conflict(f"{user.name} has no credential profile to verify.")
    if current.verified_at is not None:
        raise Conflict(f"{user.name}'s current credentials (version {current.version}) are already verified.")
    version = current.version + 1
    profile = ReviewerProfile(user_id=user.id, version=version, created_by_id=actor.id, verified_by_id=actor.id,
                              verified_at=utcnow(), verification_method=method,
                              **{k: getattr(current, k) for k in PROFILE_FIELDS})
    db.session.add(profile)
    user.profile_version = version
    db.session.flush()
    db.session.expire(user, ["profile"])
    audit.record("credentials.verified", actor=actor, role="admin", target=user, target_label=user.email,
                 details={"version": version, "verified_version": current.version, "method": method,
                          "credentials": current.credentials, "license_number": current.license_number,
                          "license_expires": current.license_expires.isoformat()})
    return profile


def profile_history(user: User) -> list[ReviewerProfile]:
    return list(db.session.scalars(select(ReviewerProfile).where(ReviewerProfile.user_id == user.id)
                                   .order_by(ReviewerProfile.version.desc())))


def change_password(user: User, current: str, new: str, keep_session: str | None = None) -> None:
    """Change one's own password. Every other session of this person ends (``keep_session``, this
    browser's key, stays), every API token is revoked, and an e-mail tells them."""
    if not check_password(user, current or ""):
        raise InvalidInput("The current password is not right. Nothing was changed.", field="current_password")
    validate_password(new)
    set_password(user, new)
    ended = after_password_change(user, keep_session)
    audit.record("account.password_changed", actor=user, role=policy.acting_role(user), target=user,
                 target_label=user.email, details=ended)


def set_password(user: User, new: str) -> None:
    """Store a new password hash; the session generation moves on, so old cookies stop working."""
    user.password_hash = hash_password(new)
    user.session_generation += 1
    db.session.flush()


#: What the e-mail after a password change says; ``{login}`` is the log-in page, ``{forgot}`` the reset page.
PASSWORD_CHANGED_MAIL = """Hello {name},

The password of your reviewflow account ({email}) was changed at {when} UTC.
Every other session of yours has ended and your API tokens are revoked: make new ones on your
account page if programs need them.

If you did not change it, reset your password now at {forgot}
and tell your administrator.

Sign in: {login}
"""


def after_password_change(user: User, keep_session: str | None = None) -> dict:
    """What a new password ends: every session but ``keep_session``'s, every live API token and every
    pending reset link; an e-mail tells the person. Returns the counts, for the audit event."""
    ended = sessions.end_sessions(user, keep=keep_session)
    revoked = revoke_all_tokens(user)
    db.session.execute(update(PasswordReset).where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
                       .values(used_at=utcnow()).execution_options(synchronize_session=False))
    queue_email(user.email, "Your password was changed", PASSWORD_CHANGED_MAIL.format(
        name=user.name, email=user.email, when=utcnow().strftime("%Y-%m-%d %H:%M"),
        forgot=public_url.absolute("/password/forgot"), login=public_url.absolute("/login")))
    return {"sessions_ended": ended, "api_keys_revoked": revoked}


# Log-in and throttling ----------------------------------------------------

class LoginRefused(Exception):
    """A refused log-in, with a message that never says whether the email exists."""

    def __init__(self, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.message, self.retry_after = message, retry_after


def record_login(user: User, ip: str, **details) -> None:
    """The audit event of a completed sign-in."""
    audit.record("auth.login", actor=user, role=policy.acting_role(user), target=user, target_label=user.email,
                 details={"ip": ip, **details})


NO_MATCH = "That email and password do not match an active account. Check them and try again."


def authenticate(email, password, ip: str) -> User:
    """Check a log-in; returns the user or raises LoginRefused. Records the event either way.

    The attempt is counted first (``throttle``): one that must wait is refused with its
    ``retry_after`` before the password is checked, whether or not the email exists. The caller
    commits, in both cases, so the audit event of a failure stays. For someone with two-factor
    sign-in on, the right password is only the first step: nothing is recorded yet and the caller
    must ask for the code (``twofactor_services.complete_sign_in``).
    """
    email = (email or "").strip().lower()[:254]
    refusal = throttle.take_login_attempt(email, ip)
    if refusal is not None:
        where = "from this address" if refusal.scope == "address" else "for this account from here"
        raise LoginRefused(f"Too many failed sign-ins {where}. Wait {throttle.human_wait(refusal.retry_after)} "
                           "before trying again; nothing was checked meanwhile.", refusal.retry_after)
    user = find_user(email) if email else None
    if user is not None:
        ok = check_password(user, password or "")
    else:
        ok = False
        # spend the same time as a real check, so timing does not reveal unknown emails
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher().verify(_dummy_hash(_hasher()), password or "")
    if ok and user.active:
        throttle.login_succeeded(email, ip)
        if not twofactor.enabled(user):  # else signed in only after the second step (twofactor_services)
            record_login(user, ip)
        return user
    audit.record("auth.login_failed", actor=None, role="anonymous", target_type="user",
                 target_label=email, actor_name="unknown", details={"email": email, "ip": ip})
    raise LoginRefused(NO_MATCH)


def with_roles():
    """Loader options for people whose roles and reviewer profile the page will read (the signed-in
    user, an admin's list of accounts): two extra queries for the whole result, not two per person."""
    return (selectinload(User.role_rows), selectinload(User.profile))


def user_from_session_id(value: str) -> User | None:
    """Flask-Login loader: "<id>:<generation>" and this browser's session record (``sessions``). An old
    generation (log-out, deactivation, password change) or a record ended or gone means signed out."""
    try:
        user_id, generation = (int(x) for x in value.split(":", 1))
    except (ValueError, AttributeError):
        return None
    if has_request_context() and request.environ.get(DB_UNAVAILABLE):
        return None  # this request is already answered 503: its page is drawn for nobody in particular
    try:
        # populate_existing: the user may already be in the session (as an article's writer, say)
        # without roles and profile; the options apply only to a fresh load.
        user = db.session.get(User, user_id, options=with_roles(), populate_existing=True)
        if user is None or user.session_generation != generation or not user.active:
            return None
        record = sessions.find_session(user.id, session.get(sessions.SESSION_KEY))
        if record is None:
            return None  # ended (signed out elsewhere, password changed) or never recorded
        sessions.touch(record)
    except SQLAlchemyError as exc:
        db.session.rollback()
        if database_unavailable(exc):
            raise  # the database is away: a 503 page, not a detour through the log-in page
        return None
    return user


def end_sessions(user: User) -> None:
    """End every session of this person (log-out): copied cookies stop working too."""
    user.session_generation += 1
    sessions.end_sessions(user)
    audit.record("auth.logout", actor=user, role=policy.acting_role(user), target=user, target_label=user.email)


# API tokens -------------------------------------------------------------------

def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


#: The lifetimes a token can be given, in days (None: until revoked).
TOKEN_LIFETIMES = (None, 7, 30, 90, 365)


def create_token(actor, user: User, name: str = "", password: str | None = None,
                 expires_in_days: int | None = None) -> tuple[ApiToken, str]:
    """A new API token for ``user``; the plain token is returned once and only its hash is stored.

    A person (``actor``) confirms with their own password (InvalidInput on the ``password`` field when
    it is wrong); the command line (``actor=None``) does not. ``expires_in_days`` is one of
    ``TOKEN_LIFETIMES``: after that the API answers the token 401.
    """
    if actor is not None and actor.id != user.id:
        policy.require(actor, "admin.manage")
    name = one_line(name, "name", 120, required=False) or "API token"
    if expires_in_days not in TOKEN_LIFETIMES:
        raise InvalidInput("Choose how long the token lasts from the list.", field="expires")
    if actor is not None and not check_password(actor, password or ""):
        raise InvalidInput("Your password is not right. No token was made.", field="password")
    plain = "rf_" + secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    token = ApiToken(user_id=user.id, name=name, token_hash=_digest(plain), prefix=plain[:10], expires_at=expires_at)
    db.session.add(token)
    db.session.flush()
    audit.record("token.created", actor=actor, role=policy.acting_role(actor) if actor else "system", target=token,
                 target_label=f"{user.email} {token.prefix}…",
                 details={"user_id": user.id, "name": token.name,
                          "expires_at": expires_at.isoformat() if expires_at else None})
    return token, plain


def revoke_token(actor, token: ApiToken) -> None:
    """Revoke one token (its holder, or an admin). Conflict when it is already revoked."""
    policy.require(actor, "token.revoke", token)
    if token.revoked_at is not None:
        raise Conflict("This token is already revoked.")
    token.revoked_at = utcnow()
    audit.record("token.revoked", actor=actor, role=policy.acting_role(actor), target=token,
                 target_label=f"{token.user.email} {token.prefix}…")


def revoke_all_tokens(user: User) -> int:
    """Revoke every live token of ``user`` (a password change); flushes, and returns how many."""
    result = db.session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                                .values(revoked_at=utcnow()).execution_options(synchronize_session=False))
    return result.rowcount or 0


def tokens_of(user: User) -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())))


def user_for_token(plain: str) -> User | None:
    """The active user holding this token, unless it is revoked or expired; stamps its last use (at most
    once a minute, so using a token is not a write per request)."""
    if not plain or len(plain) > 200:
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(plain))
                              .options(joinedload(ApiToken.user).options(*with_roles())))
    now = utcnow()
    if token is None or token.revoked_at is not None or token.expired_at(now) or not token.user.active:
        return None
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now
        db.session.commit()
    return token.user
