"""While the database cannot be reached: telling an outage from a mistake, and living through one.

A statement the database could not run because it is away (connection refused or dropped, the
server shutting down or starting up, no connection slot, SQLite still locked after its busy
timeout) is an outage (``database_unavailable``), answered 503 with ``Retry-After`` by
``errors.unavailable_response``, never 500. Each process keeps its own ``Outage``: the first
failure is logged, later ones counted, and the first request that uses the database and succeeds
again logs the recovery. A dead connection is dropped from the pool (``note_unavailable``); the
pool's pre-ping finds the database again when it returns.
"""
from __future__ import annotations

import contextlib
import sqlite3
import threading
import time

from flask import Flask, has_request_context, request
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from reviewflow.extensions import db

try:  # psycopg is only needed on PostgreSQL
    import psycopg
except ImportError:  # pragma: no cover
    psycopg = None

#: Seconds a client is asked to wait before trying again while the database is away (``Retry-After``).
RETRY_AFTER = 5

#: PostgreSQL SQLSTATEs that mean "not reachable now": connection exceptions (class 08), the server
#: shutting down or starting up (57P01-57P03) and no connection slot free (53300).
PG_UNAVAILABLE = ("08", "57P01", "57P02", "57P03", "53300")
#: SQLite result codes that mean "try again later": busy or locked after the busy timeout, the file
#: cannot be opened, an I/O error.
SQLITE_UNAVAILABLE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR")
SQLITE_UNAVAILABLE_TEXT = ("database is locked", "database table is locked", "database schema is locked",
                           "unable to open database file", "disk i/o error")
#: Request environ keys: the database answered a statement of this request / refused this request.
DB_ANSWERED, DB_UNAVAILABLE = "reviewflow.db_answered", "reviewflow.db_unavailable"


def database_unavailable(exc: BaseException | None) -> bool:
    """True when ``exc`` says the database cannot be reached or is locked for now (a 503), as opposed
    to a mistake in a statement (a 500). SQLAlchemy's wrapper or the driver's own exception."""
    if exc is None:
        return False
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig
    if psycopg is not None and isinstance(exc, psycopg.Error):
        state = exc.sqlstate
        if state is None:  # raised by the client: refused, closed, lost, timed out
            return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
        return state.startswith(PG_UNAVAILABLE)
    if isinstance(exc, sqlite3.OperationalError):
        name = getattr(exc, "sqlite_errorname", "") or ""
        return name.startswith(SQLITE_UNAVAILABLE) or str(exc).lower().startswith(SQLITE_UNAVAILABLE_TEXT)
    return False


def _reason(exc: BaseException) -> str:
    """The driver's own words, one line, without the SQL statement or its parameters."""
    orig = getattr(exc, "orig", None) or exc
    words = " ".join(str(orig).split())[:200]
    return f"{type(orig).__name__}: {words}" if words else type(orig).__name__


class Outage:
    """This process's view of its database: answering, or away since a first failure.

    The first failure is logged; later ones are only counted until a request that used the
    database succeeds again, which logs the recovery with how long it took and how many requests
    were answered 503 meanwhile. Each process (each gunicorn worker) logs its own outage once.
    """

    def __init__(self, logger) -> None:
        self.logger = logger
        self.since: float | None = None
        self.refused = 0
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException) -> bool:
        """Count one request refused for ``exc``; True (and logged) when it starts an outage."""
        with self._lock:
            self.refused += 1
            if self.since is not None:
                return False
            self.since = time.monotonic()
        self.logger.error("database unavailable (%s): answering 503 until it returns", _reason(exc))
        return True

    def answered(self) -> None:
        """A request used the database and succeeded: log the recovery if an outage was on."""
        if self.since is None:
            return
        with self._lock:
            if self.since is None:
                return
            away, refused = time.monotonic() - self.since, self.refused
            self.since, self.refused = None, 0
        self.logger.warning("database available again after %.1f s; %d request(s) were answered 503 meanwhile",
                            away, refused)


def outage(app: Flask) -> Outage:
    """The app's ``Outage`` (one per app, so each gunicorn worker keeps its own)."""
    return app.extensions["reviewflow.outage"]


def _release_connection() -> None:
    """Roll back the request's transaction. On a lost connection SQLAlchemy has already invalidated
    it, so it is closed instead of going back to the pool; if even the rollback fails, drop the session."""
    try:
        db.session.rollback()
    except Exception:  # the connection died under the rollback: drop the session with it
        with contextlib.suppress(Exception):
            db.session.close()


def note_unavailable(app: Flask, exc: BaseException) -> None:
    """Settle a request the database could not serve: release its connection, count it towards the
    outage (logging the first), and when a connection was lost, empty the pool of idle ones."""
    _release_connection()
    if has_request_context():
        request.environ[DB_UNAVAILABLE] = True
    started = outage(app).failed(exc)
    orig = getattr(exc, "orig", exc)
    if started and not isinstance(orig, sqlite3.Error):
        db.engine.pool.dispose()  # idle connections of before the outage are dead too


def register_outage_watch(app: Flask) -> None:
    """Keep this app's ``Outage`` and end it when a request that used the database succeeds.

    A statement the database answered marks the request (``after_cursor_execute``); a request that
    was marked and was not refused for unavailability ends the outage. Requests that never touch
    the database (static files, the public fast path) say nothing either way.
    """
    watch = Outage(app.logger)
    app.extensions["reviewflow.outage"] = watch

    def _answered(*_args) -> None:
        if watch.active and has_request_context():
            request.environ[DB_ANSWERED] = True

    with app.app_context():
        for engine in db.engines.values():
            event.listen(engine, "after_cursor_execute", _answered)

    @app.teardown_appcontext  # registered after Flask-SQLAlchemy's, so it runs before its session.remove()
    def _close_session(_exc) -> None:
        """End the session's transaction without a traceback when the database died after the request's
        last statement (its rollback then fails): the connection is dropped, the outage noted."""
        try:
            db.session.close()
        except Exception as exc:  # the rollback of a connection that died meanwhile
            if not database_unavailable(exc):
                raise
            watch.failed(exc)

    @app.after_request
    def _end_outage(response):
        if watch.active and request.environ.get(DB_ANSWERED) and not request.environ.get(DB_UNAVAILABLE):
            watch.answered()
        return response
