"""Outages: while the database cannot be reached the app answers 503 ``unavailable`` (with
``Retry-After``), says so once in the log, and recovers by itself when the database returns.

Three layers:

- in-process, on the suite's database: every new connection is refused with the driver's own
  error (``database_down``), or a SQLite write lock is held past the busy timeout;
- a real PostgreSQL cluster of the test's own, stopped for about four seconds and started again
  while writers POST revisions to reviewflow under gunicorn (``test_postgres_outage_...``);
- SQLite under lock contention: four gunicorn sync workers writing at once.

The two server tests print their figures (requests and answers by status, before, during and
after the outage) for the closing note; run with ``-s`` to see them.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import OperationalError

import config
from reviewflow import create_app
from reviewflow.articles.models import Article
from reviewflow.errors import database_unavailable
from reviewflow.extensions import db as _db
from tests.factories import make_article, token_for

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI") == "true"


# In-process: connections refused ---------------------------------------------------------------

@contextlib.contextmanager
def database_down():
    """Every new connection is refused with the driver's own error, as when the server is stopped;
    the pool is emptied first so no connection of before survives. Lifted on exit."""
    engine = _db.engine
    if engine.dialect.name == "sqlite":
        def refuse(*_args):
            raise sqlite3.OperationalError("unable to open database file")
    else:
        def refuse(*_args):
            raise psycopg.OperationalError('connection failed: connection to server at "127.0.0.1" failed: '
                                           "Connection refused (simulated by the test)")
    _db.session.rollback()  # the shared session gives its connection back; ORM objects expire
    event.listen(engine, "do_connect", refuse)
    engine.dispose()
    try:
        yield
    finally:
        event.remove(engine, "do_connect", refuse)


def bearer(user) -> dict:
    """Headers with a new API token for ``user``, made while the database answers."""
    return {"Authorization": f"Bearer {token_for(user)}"}


def test_api_answers_503_unavailable_with_retry_after_and_nothing_is_stored(db, client, cast):
    auth = bearer(cast["writer"])
    with database_down():
        created = client.post("/api/v1/articles", json={"title": "Lost?", "body": "Text."}, headers=auth)
        me = client.get("/api/v1/me", headers=auth)
    for response in (created, me):
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "unavailable"
        assert "try again" in response.get_json()["error"]["message"]
        assert int(response.headers["Retry-After"]) > 0
    assert client.post("/api/v1/articles", json={"title": "Saved", "body": "Text."}, headers=auth).status_code == 201
    assert [a.title for a in db.session.scalars(select(Article))] == ["Saved"]


def test_pages_answer_a_calm_503_page_without_a_stack_trace(db, client, cast):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    slug, email = article.slug, cast["writer"].email
    with database_down():
        pages = [client.get("/articles"), client.get(f"/articles/{slug}"),
                 client.post("/login", data={"email": email, "password": "x"})]
    for response in pages:
        body = response.get_data(as_text=True)
        assert response.status_code == 503, body[:300]
        assert response.mimetype == "text/html"
        assert "temporarily unavailable" in body
        assert "Traceback" not in body and "OperationalError" not in body and "sqlalchemy" not in body.lower()
        assert int(response.headers["Retry-After"]) > 0
        assert response.headers["Cache-Control"] == "no-store"
    # The 503 was not kept by the public fast path: the page answers as soon as the database does.
    assert client.get(f"/articles/{slug}").status_code == 200


def test_healthz_answers_ok_for_anyone_and_is_never_cached(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


def test_healthz_is_not_csrf_protected_and_not_behind_the_api_token(tmp_path):
    class Cfg(config.TestConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'csrf.db'}"
        WTF_CSRF_ENABLED = True

    app = create_app(Cfg)
    response = app.test_client().get("/healthz", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_healthz_answers_503_while_the_database_is_away_and_200_when_it_returns(client, db):
    with database_down():
        down = client.get("/healthz")
    assert down.status_code == 503
    assert down.get_json() == {"status": "unavailable"}
    assert down.headers["Cache-Control"] == "no-store" and int(down.headers["Retry-After"]) > 0
    assert client.get("/healthz").status_code == 200


def test_an_outage_is_logged_once_and_the_recovery_once(app, db, client, cast, caplog):
    auth = bearer(cast["writer"])
    caplog.set_level(logging.WARNING)
    with database_down():
        answers = [client.get("/api/v1/me", headers=auth).status_code for _ in range(4)]
        answers.append(client.get("/healthz").status_code)
    assert answers == [503] * 5
    failures = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(failures) == 1, [r.getMessage() for r in caplog.records]
    assert failures[0].levelno == logging.ERROR and "Traceback" not in failures[0].getMessage()
    caplog.clear()
    assert client.get("/api/v1/me", headers=auth).status_code == 200
    assert client.get("/api/v1/me", headers=auth).status_code == 200
    recovered = [r.getMessage() for r in caplog.records if "available again" in r.getMessage()]
    assert len(recovered) == 1 and "5 request(s) were answered 503" in recovered[0], caplog.text


def test_a_request_that_never_touches_the_database_does_not_end_the_outage(db, client, caplog):
    caplog.set_level(logging.WARNING)
    with database_down():
        assert client.get("/healthz").status_code == 503
        assert client.get("/login").status_code in (200, 503)
        assert client.get("/healthz").status_code == 503
    assert not [r for r in caplog.records if "available again" in r.getMessage()]
    assert client.get("/healthz").status_code == 200
    assert [r for r in caplog.records if "available again" in r.getMessage()]


def test_sqlite_still_locked_after_the_busy_timeout_is_a_503_not_a_500(app, db, client, cast, is_postgres):
    if is_postgres:
        pytest.skip("SQLite's own lock; the PostgreSQL outage is tested against a real server below")
    auth = bearer(cast["writer"])

    def short_wait(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA busy_timeout=200")  # after the app's own 10 s

    event.listen(db.engine, "connect", short_wait)
    db.session.remove()
    db.engine.dispose()
    assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == 200
    db.session.remove()
    holder = sqlite3.connect(db.engine.url.database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        locked = client.post("/api/v1/articles", json={"title": "Waits", "body": "Text."}, headers=auth)
        assert client.get("/healthz").status_code == 200  # readers are not blocked (WAL)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        event.remove(db.engine, "connect", short_wait)
    assert locked.status_code == 503, locked.get_data(as_text=True)
    assert locked.get_json()["error"]["code"] == "unavailable" and locked.headers["Retry-After"]
    assert client.post("/api/v1/articles", json={"title": "Saved", "body": "Text."}, headers=auth).status_code == 201
    assert [a.title for a in db.session.scalars(select(Article))] == ["Saved"]


@pytest.mark.parametrize(("exc", "expected"), [
    (psycopg.OperationalError("connection failed: Connection refused"), True),
    (psycopg.OperationalError("server closed the connection unexpectedly"), True),
    (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
    (psycopg.errors.CannotConnectNow("the database system is starting up"), True),
    (psycopg.errors.TooManyConnections("sorry, too many clients already"), True),
    (psycopg.errors.UndefinedTable('relation "x" does not exist'), False),
    (psycopg.errors.ProgramLimitExceeded("index row size exceeds maximum"), False),
    (sqlite3.OperationalError("database is locked"), True),
    (sqlite3.OperationalError("unable to open database file"), True),
    (sqlite3.OperationalError("no such table: articles"), False),
    (sqlite3.OperationalError("near \"SELEC\": syntax error"), False),
    (ValueError("not a database error"), False),
])
def test_which_database_errors_mean_unavailable(exc, expected):
    assert database_unavailable(exc) is expected
    assert database_unavailable(OperationalError("SELECT 1", {}, exc)) is expected
