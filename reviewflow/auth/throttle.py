"""Log-in limits that hold under parallel requests and cannot be turned against the account's owner.

Three counters, each a ``login_counters`` row changed by one atomic statement (``INSERT … ON
CONFLICT DO UPDATE … WHERE … RETURNING``, the same on SQLite and PostgreSQL), never read,
changed in Python and written back:

- per (account, address) pair: the first ``LOGIN_FREE_ATTEMPTS`` (5) attempts are free; after
  them each attempt waits 1 s, 2 s, 4 s … doubling up to ``LOGIN_MAX_DELAY_SECONDS`` (15 min)
  after the last. A success clears only this pair. A stranger failing from another address has
  a pair of their own, so the owner is never kept out by someone else's guesses.
- per address, over all accounts: at most ``LOGIN_ADDRESS_LIMIT`` (30) failures within
  ``LOGIN_ADDRESS_WINDOW_MINUTES`` (15) from the first. A success returns only its own attempt:
  signing in to one's own account does not wipe the failures at other accounts.
- per account, for the second factor: wrong codes follow the pair rule above, keyed by the account
  (whoever enters a code already has the password).

An attempt is counted *before* the password is checked and given back when it succeeds, so
parallel requests can never have more guesses checked than the limits allow: the statement that
would go over the limit changes nothing and returns no row. Counts are committed at once on a
connection of their own, so other requests see them while this one checks the password.

No hard lock of an account and no global per-account ceiling: with the growing delays a single
address gets about 15 guesses in its first quarter of an hour and 4 an hour after that, the
address ceiling bounds what one address spreads over many accounts, and reviewers, editors and
admins need a second factor in production; a global ceiling would give any stranger a way to keep
the owner out, which is what this module exists to prevent.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Integer, String, case, delete, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from reviewflow.extensions import UTCDateTime, db, utcnow
from reviewflow.textrules import counted


class LoginCounter(db.Model):
    """One counter of log-in attempts: a pair, an address or an account's second factor."""

    __tablename__ = "login_counters"

    #: "pair:<email> <address>", "addr:<address>" or "code:<user id>".
    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    #: Attempts counted and not given back (pairs, codes: since the last success; addresses: in the window).
    count: Mapped[int] = mapped_column(Integer, default=0)
    #: No attempt of this pair or code counter is counted (or checked) before this time.
    wait_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The end of an address counter's window; the next failure after it starts a new one at 1.
    window_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Refusal:
    """Why an attempt was not even checked, and how long to wait."""

    scope: str  # "pair", "address" or "code"
    retry_after: int


def pair_key(email: str, address: str) -> str:
    return f"pair:{email} {address}"


def address_key(address: str) -> str:
    return f"addr:{address}"


def code_key(user_id: int) -> str:
    return f"code:{user_id}"


def delay_after(attempts: int, free: int, cap: int) -> int:
    """Seconds to wait after ``attempts`` counted attempts: none for the free ones, then 1, 2, 4 … ``cap``."""
    if attempts < free:
        return 0
    return min(2 ** (attempts - free), cap)


def _insert(table):
    dialect = db.engine.dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _seconds_until(moment: datetime | None, now: datetime) -> int:
    if moment is None:
        return 1
    return max(1, int((moment - now).total_seconds() + 0.999))


def _take_growing(conn, key: str, free: int, cap: int, now: datetime) -> int | None:
    """Count one attempt on a pair or code counter unless it must wait; the new count, or None."""
    t = LoginCounter.__table__
    ladder = []  # (count after this attempt, when the next may come), up to the cap
    n = free
    while delay_after(n, free, cap) < cap:
        ladder.append((n, now + timedelta(seconds=delay_after(n, free, cap))))
        n += 1
    new_count = t.c.count + 1
    next_wait = case(
        (new_count < free, literal(None, UTCDateTime)),
        *[(new_count == k, literal(at, UTCDateTime)) for k, at in ladder],
        else_=literal(now + timedelta(seconds=cap), UTCDateTime))
    first_wait = now + timedelta(seconds=delay_after(1, free, cap)) if free <= 1 else None
    stmt = _insert(t).values(key=key, count=1, wait_until=first_wait)
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.key], set_={"count": new_count, "wait_until": next_wait},
        where=(t.c.wait_until.is_(None)) | (t.c.wait_until <= literal(now, UTCDateTime)),
    ).returning(t.c.count)
    return conn.execute(stmt).scalar()


def _take_windowed(conn, key: str, limit: int, window: timedelta, now: datetime) -> int | None:
    """Count one attempt on an address counter unless its window is full; the new count, or None."""
    t = LoginCounter.__table__
    expired = t.c.window_ends_at <= literal(now, UTCDateTime)
    stmt = _insert(t).values(key=key, count=1, window_ends_at=now + window)
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.key],
        set_={"count": case((expired, 1), else_=t.c.count + 1),
              "window_ends_at": case((expired, literal(now + window, UTCDateTime)), else_=t.c.window_ends_at)},
        where=(t.c.count < limit) | expired,
    ).returning(t.c.count)
    return conn.execute(stmt).scalar()


def _give_back(conn, key: str) -> None:
    """One attempt back (a success is not a failure); on a connection or the request's session."""
    t = LoginCounter.__table__
    conn.execute(update(t).where(t.c.key == key, t.c.count > 0).values(count=t.c.count - 1))


def _waits(conn, key: str, column, now: datetime) -> int:
    return _seconds_until(conn.execute(select(column).where(LoginCounter.key == key)).scalar(), now)


def take_login_attempt(email: str, address: str) -> Refusal | None:
    """Count a log-in attempt for (email, address) before its password is checked.

    Returns a Refusal (nothing is checked, nothing else counted) when the address has had too many
    failures in its window or the pair must still wait; None when the password may be checked.
    Committed at once, on its own connection: call it before the request's session writes anything
    (on SQLite a second writer would wait for the first, in the same thread).
    """
    cfg = current_app.config
    now = utcnow()
    window = timedelta(minutes=cfg["LOGIN_ADDRESS_WINDOW_MINUTES"])
    with db.engine.begin() as conn:
        if _take_windowed(conn, address_key(address), cfg["LOGIN_ADDRESS_LIMIT"], window, now) is None:
            return Refusal("address", _waits(conn, address_key(address), LoginCounter.window_ends_at, now))
        if _take_growing(conn, pair_key(email, address), cfg["LOGIN_FREE_ATTEMPTS"],
                         cfg["LOGIN_MAX_DELAY_SECONDS"], now) is None:
            _give_back(conn, address_key(address))
            return Refusal("pair", _waits(conn, pair_key(email, address), LoginCounter.wait_until, now))
    return None


def login_succeeded(email: str, address: str) -> None:
    """A right password: this pair starts afresh, and the address gets back this one attempt only.

    In the request's transaction (unlike the counting): it lands with the sign-in's audit event.
    """
    db.session.execute(delete(LoginCounter).where(LoginCounter.key == pair_key(email, address)))
    _give_back(db.session, address_key(address))


def take_code_attempt(user_id: int) -> Refusal | None:
    """Count an attempt at the second factor of this account before the code is checked (as above)."""
    cfg = current_app.config
    now = utcnow()
    with db.engine.begin() as conn:
        if _take_growing(conn, code_key(user_id), cfg["LOGIN_FREE_ATTEMPTS"], cfg["LOGIN_MAX_DELAY_SECONDS"],
                         now) is None:
            return Refusal("code", _waits(conn, code_key(user_id), LoginCounter.wait_until, now))
    return None


def code_succeeded(user_id: int) -> None:
    """A right code (or recovery code): the account's code counter starts afresh (in the request's transaction)."""
    db.session.execute(delete(LoginCounter).where(LoginCounter.key == code_key(user_id)))


def human_wait(seconds: int) -> str:
    """"1 second", "40 seconds", "3 minutes": how a refusal says how long to wait."""
    if seconds < 120:
        return counted(seconds, "second")
    return counted((seconds + 59) // 60, "minute")
