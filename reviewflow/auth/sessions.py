"""Sign-in sessions kept on the server: one ``UserSession`` per signed-in browser.

The session cookie (signed by Flask) carries a random key under ``SESSION_KEY``; the database keeps
its SHA-256. Flask-Login's user loader (``services.user_from_session_id``) refuses a cookie whose
record is missing or ended, so ending a record signs that browser out, copies of its cookie included.
``last_seen_at`` is written at most once a minute (``TOUCH_EVERY``), not on every request.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from reviewflow import policy
from reviewflow.audit import services as audit
from reviewflow.auth.models import User, UserSession
from reviewflow.extensions import db, utcnow

#: The key of the Flask session that holds the browser's session key.
SESSION_KEY = "sid"
TOUCH_EVERY = timedelta(minutes=1)
#: Browsers and systems by a token of their User-Agent, in the order they are tried (Edge and Opera
#: also say "Chrome/", and Chrome also says "Safari/").
BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
            ("Safari/", "Safari"), ("curl/", "curl"), ("python-", "Python script"))
SYSTEMS = (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("Windows", "Windows"),
           ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def start_session(user: User, user_agent: str = "", ip: str = "") -> str:
    """Record a new signed-in browser for ``user``; returns the key for its cookie (stored hashed)."""
    key = secrets.token_urlsafe(32)
    db.session.add(UserSession(user_id=user.id, key_hash=_hash(key), user_agent=(user_agent or "")[:300],
                               ip=(ip or "")[:64]))
    db.session.flush()
    return key


def find_session(user_id: int, key) -> UserSession | None:
    """The live record of this cookie's key for this person, or None (no key, unknown, ended, another's)."""
    if not isinstance(key, str) or not key or len(key) > 100:
        return None
    record = db.session.scalar(select(UserSession).where(UserSession.key_hash == _hash(key)))
    if record is None or record.user_id != user_id or record.ended_at is not None:
        return None
    return record


def touch(record: UserSession) -> None:
    """Stamp the session as seen now, at most once a minute; commits that one write."""
    now = utcnow()
    if now - record.last_seen_at >= TOUCH_EVERY:
        record.last_seen_at = now
        db.session.commit()


def end_sessions(user: User, keep: str | None = None) -> int:
    """End every live session of ``user`` except the one whose key is ``keep``; returns how many ended.

    Flushes, never commits: the caller's action (a password change, a log-out) carries the audit event.
    """
    stmt = update(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    if keep:
        stmt = stmt.where(UserSession.key_hash != _hash(keep))
    result = db.session.execute(stmt.values(ended_at=utcnow()).execution_options(synchronize_session=False))
    return result.rowcount or 0


def end_other_sessions(user: User, keep: str) -> int:
    """"Sign out everywhere else": end every session of ``user`` but this browser's, with one audit event."""
    ended = end_sessions(user, keep=keep)
    audit.record("auth.sessions_ended", actor=user, role=policy.acting_role(user), target=user, target_label=user.email,
                 details={"ended": ended})
    return ended


def end_session(key) -> None:
    """End the session of this cookie's key (log-out of this browser)."""
    if isinstance(key, str) and key:
        db.session.execute(update(UserSession).where(UserSession.key_hash == _hash(key),
                                                     UserSession.ended_at.is_(None))
                           .values(ended_at=utcnow()).execution_options(synchronize_session=False))


def active_sessions(user: User) -> list[UserSession]:
    """The person's live sessions, most recently seen first."""
    return list(db.session.scalars(select(UserSession).where(UserSession.user_id == user.id,
                                                             UserSession.ended_at.is_(None))
                                   .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())))


def is_current(record: UserSession, key) -> bool:
    """Whether ``record`` is the session of this cookie's key ("this device")."""
    return isinstance(key, str) and bool(key) and record.key_hash == _hash(key)


def device_label(user_agent: str) -> str:
    """A short name of the device from its User-Agent, such as "Firefox on Windows"."""
    ua = user_agent or ""
    browser = next((name for token, name in BROWSERS if token in ua), "Unknown browser")
    system = next((name for token, name in SYSTEMS if token in ua), "")
    return f"{browser} on {system}" if system else browser


def sign_in(user: User) -> None:
    """Sign this browser in as ``user``: a new server-side session record, committed, and its key in the
    session cookie. Call after the action that let them in was recorded (the password, or the password
    and the second factor)."""
    from flask import request, session
    from flask_login import login_user

    end_session(session.get(SESSION_KEY))  # whoever this browser was signed in as before
    key = start_session(user, request.user_agent.string, request.remote_addr or "")
    db.session.commit()
    login_user(user)
    session[SESSION_KEY] = key
