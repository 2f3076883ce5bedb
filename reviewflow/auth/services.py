"""Accounts, passwords, log-in throttling, reviewer profiles and API tokens.

Passwords are hashed with Argon2id. Failed log-ins are counted in the database per
account and per address, so the limits hold across workers and machines: after a few
failures each attempt must wait (doubling), and after more the key is locked for a
while. Messages never reveal whether an email exists.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import secrets
from datetime import date, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_request_context, request
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import joinedload, selectinload

from reviewflow import policy
from reviewflow.audit import services as audit
from reviewflow.auth.models import ApiToken, LoginThrottle, ReviewerProfile, Role, User, UserRole
from reviewflow.errors import DB_UNAVAILABLE, Conflict, InvalidInput, database_unavailable
from reviewflow.extensions import db, utcnow
from reviewflow.ids import get_or_404
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


def _clean_roles(roles) -> list[str]:
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
    roles = _clean_roles(roles)
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
        roles = _clean_roles(roles)
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
    if changes:
        db.session.flush()
        action = "account.roles_changed" if set(changes) == {"roles"} else "account.updated"
        audit.record(action, actor=actor, role="admin", target=user, target_label=user.email, details=changes)
    return user


PROFILE_FIELDS = ("credentials", "specialty", "license_number", "license_jurisdiction", "license_expires",
                  "affiliation", "organization", "bio")


def save_profile(actor, user: User, data: dict, role: str = "admin") -> ReviewerProfile:
    """Add a new version of a reviewer's credential profile; earlier versions are kept unchanged."""
    if actor is not None:
        policy.require(actor, "admin.manage")
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
    current = user.profile
    if current is not None and all(getattr(current, k) == values[k] for k in PROFILE_FIELDS):
        return current
    version = (db.session.scalar(select(func.max(ReviewerProfile.version))
                                 .where(ReviewerProfile.user_id == user.id)) or 0) + 1
    profile = ReviewerProfile(user_id=user.id, version=version, created_by_id=getattr(actor, "id", None),
                              **{k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()})
    db.session.add(profile)
    user.profile_version = version
    db.session.flush()
    db.session.expire(user, ["profile"])
    audit.record("credentials.changed", actor=actor, role=role if actor else "system", target=user,
                 target_label=user.email,
                 details={"version": version, **{k: str(v) for k, v in values.items() if k != "bio"}})
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


def change_password(user: User, current: str, new: str) -> None:
    """Change one's own password; every other session of this person ends."""
    if not check_password(user, current or ""):
        raise InvalidInput("The current password is not right. Nothing was changed.", field="current_password")
    validate_password(new)
    user.password_hash = hash_password(new)
    user.session_generation += 1
    db.session.flush()
    audit.record("account.password_changed", actor=user, role=_main_role(user), target=user,
                 target_label=user.email)


def _main_role(user: User) -> str:
    for r in ("admin", "editor", "reviewer", "writer"):
        if user.has_role(r):
            return r
    return ""


# Log-in and throttling ----------------------------------------------------

class LoginRefused(Exception):
    """A refused log-in, with a message that never says whether the email exists."""

    def __init__(self, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.message, self.retry_after = message, retry_after


def _throttle(key: str) -> LoginThrottle:
    row = db.session.get(LoginThrottle, key)
    if row is None:
        row = LoginThrottle(key=key, failures=0)
        db.session.add(row)
    return row


def _wait_seconds(row: LoginThrottle, slow_after: int) -> int:
    now = utcnow()
    if row.locked_until and row.locked_until > now:
        return int((row.locked_until - now).total_seconds()) + 1
    if row.failures >= slow_after and row.last_failure_at:
        delay = min(2 ** (row.failures - slow_after), 60)
        ready = row.last_failure_at + timedelta(seconds=delay)
        if ready > now:
            return int((ready - now).total_seconds()) + 1
    return 0


def authenticate(email, password, ip: str) -> User:
    """Check a log-in; returns the user or raises LoginRefused. Records the event either way.

    The caller commits, in both cases, so failure counts persist.
    """
    cfg = current_app.config
    email = (email or "").strip().lower()[:254]
    keys = [f"email:{email}", f"ip:{ip}"]
    rows = [_throttle(k) for k in keys]
    wait = max(_wait_seconds(rows[0], cfg["LOGIN_SLOW_AFTER"]),
               _wait_seconds(rows[1], cfg["LOGIN_IP_LOCK_AFTER"] // 2))
    if wait:
        raise LoginRefused(f"Too many failed log-ins. Wait {_human(wait)} before trying again.", wait)
    user = find_user(email) if email else None
    if user is not None:
        ok = check_password(user, password or "")
    else:
        ok = False
        # spend the same time as a real check, so timing does not reveal unknown emails
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher().verify(_dummy_hash(_hasher()), password or "")
    if ok and user.active:
        for row in rows:
            row.failures, row.locked_until = 0, None
        audit.record("auth.login", actor=user, role=_main_role(user), target=user, target_label=user.email,
                     details={"ip": ip})
        return user
    now = utcnow()
    for row, limit in zip(rows, (cfg["LOGIN_LOCK_AFTER"], cfg["LOGIN_IP_LOCK_AFTER"]), strict=True):
        row.failures += 1
        row.last_failure_at = now
        if row.failures >= limit:
            row.locked_until = now + timedelta(minutes=cfg["LOGIN_LOCK_MINUTES"])
    audit.record("auth.login_failed", actor=None, role="anonymous", target_type="user",
                 target_label=email, actor_name="unknown", details={"email": email, "ip": ip,
                                                                  "failures": rows[0].failures})
    if rows[0].locked_until or rows[1].locked_until:
        raise LoginRefused(f"Too many failed log-ins. Log-in is locked for {cfg['LOGIN_LOCK_MINUTES']} minutes.")
    raise LoginRefused("That email and password do not match an active account. Check them and try again.")


def _human(seconds: int) -> str:
    return f"{seconds} seconds" if seconds < 120 else f"{seconds // 60} minutes"


def with_roles():
    """Loader options for people whose roles and reviewer profile the page will read (the signed-in
    user, an admin's list of accounts): two extra queries for the whole result, not two per person."""
    return (selectinload(User.role_rows), selectinload(User.profile))


def user_from_session_id(value: str) -> User | None:
    """Flask-Login loader: "<id>:<generation>"; an old generation means the session was ended."""
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
    except SQLAlchemyError as exc:
        db.session.rollback()
        if database_unavailable(exc):
            raise  # the database is away: a 503 page, not a detour through the log-in page
        return None
    if user is None or user.session_generation != generation or not user.active:
        return None
    return user


def end_sessions(user: User) -> None:
    """End every session of this person (log-out): copied cookies stop working too."""
    user.session_generation += 1
    audit.record("auth.logout", actor=user, role=_main_role(user), target=user, target_label=user.email)


# API tokens -------------------------------------------------------------------

def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(actor, user: User, name: str = "") -> tuple[ApiToken, str]:
    """A new API token for ``user``; the plain token is returned once and only its hash is stored."""
    if actor is not None and actor.id != user.id:
        policy.require(actor, "admin.manage")
    name = one_line(name, "name", 120, required=False) or "API token"
    plain = "rf_" + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=_digest(plain), prefix=plain[:10])
    db.session.add(token)
    db.session.flush()
    audit.record("token.created", actor=actor, role=_main_role(actor) if actor else "system", target=token,
                 target_label=f"{user.email} {token.prefix}…", details={"user_id": user.id, "name": token.name})
    return token, plain


def revoke_token(actor, token: ApiToken) -> None:
    if actor.id != token.user_id:
        policy.require(actor, "admin.manage")
    if token.revoked_at is not None:
        raise Conflict("This token is already revoked.")
    token.revoked_at = utcnow()
    audit.record("token.revoked", actor=actor, role=_main_role(actor), target=token,
                 target_label=f"{token.user.email} {token.prefix}…")


def tokens_of(user: User) -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())))


def user_for_token(plain: str) -> User | None:
    """The active user holding this unrevoked token; stamps its last use (at most once a minute)."""
    if not plain or len(plain) > 200:
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(plain))
                              .options(joinedload(ApiToken.user).options(*with_roles())))
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now
        db.session.commit()
    return token.user
