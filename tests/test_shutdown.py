"""Graceful shutdown: gunicorn's SIGTERM lets the request in flight finish, and a request cut off
mid-way leaves nothing half-written.

Both run reviewflow under gunicorn (one sync worker) on the suite's database (a SQLite file, or
PostgreSQL when ``REVIEWFLOW_TEST_DATABASE_URL`` is set), with the helpers of ``test_outages``.

- SIGTERM to the master while a POST is still arriving (half its body sent): the worker finishes
  it within ``--graceful-timeout`` and answers 201, the article and its audit event are stored and
  the master exits 0.
- A worker killed with SIGKILL inside a transaction, after the article and its audit event were
  written (flushed) and before the commit: afterwards neither exists, the chain verifies, and the
  next write through the new worker succeeds (no lock left behind). The kill comes from
  ``app_that_dies_before_commit``, a test-only app that gunicorn loads from this module.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import time

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from reviewflow.articles.models import Article
from reviewflow.audit import services as audit
from reviewflow.audit.models import AuditEvent
from tests.factories import event_count, make_user, token_for
from tests.test_outages import Gunicorn, call

#: gunicorn workers read what the test wrote: real commits.
pytestmark = pytest.mark.real_commits

#: The header naming the article whose commit kills the worker, and where the worker notes what it saw.
DIE_HEADER = "X-Test-Die-Before-Commit"
MARKER_ENV = "REVIEWFLOW_TEST_DIE_MARKER"


def app_that_dies_before_commit():
    """reviewflow whose worker SIGKILLs itself just before committing the transaction that holds the
    article titled in ``X-Test-Die-Before-Commit``, after noting in the marker file what the
    transaction had written. Only for gunicorn in these tests."""
    from flask import has_request_context, request

    from reviewflow import create_app

    app = create_app()

    @event.listens_for(Session, "before_commit")
    def _die(session) -> None:
        title = request.headers.get(DIE_HEADER) if has_request_context() else None
        if not title:
            return
        session.flush()
        articles = session.scalar(select(func.count()).select_from(Article).where(Article.title == title))
        if not articles:
            return  # an earlier commit of the request (the token's last use)
        events = session.scalar(select(func.count()).select_from(AuditEvent))
        with open(os.environ[MARKER_ENV], "w") as marker:
            json.dump({"articles": articles, "events": events}, marker)
        os.kill(os.getpid(), signal.SIGKILL)

    return app


def _articles_titled(db, title: str) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Article).where(Article.title == title))


def test_sigterm_lets_the_request_in_flight_finish(app, db, tmp_path):
    token = token_for(make_user("writer"))
    before = event_count()
    server = Gunicorn(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path / "gunicorn.log",
                      "--workers", "1", "--worker-class", "sync", "--graceful-timeout", "10")
    try:
        body = json.dumps({"title": "Finished after SIGTERM", "body": "Every word arrives."}).encode()
        head = (f"POST /api/v1/articles HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as conn:
            conn.sendall(head.encode() + body[:10])
            time.sleep(0.5)  # the worker is inside the request, waiting for the rest of the body
            server.proc.send_signal(signal.SIGTERM)
            time.sleep(1.5)  # longer than a request takes: the worker is waiting, not cut off
            assert server.proc.poll() is None, "gunicorn quit before the request in flight finished"
            conn.sendall(body[10:])
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        exited = server.proc.wait(15)
    finally:
        server.stop()
    status_line, _, rest = answer.partition(b"\r\n")
    assert b" 201 " in status_line, answer[:500]
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["title"] == "Finished after SIGTERM"
    assert exited == 0
    log = server.log()
    assert "Handling signal: term" in log and "Traceback" not in log, log[-2000:]
    assert _articles_titled(db, "Finished after SIGTERM") == 1
    assert event_count() == before + 1
    assert audit.verify(record_result=False).ok


def test_a_worker_killed_mid_transaction_leaves_nothing_half_written(app, db, tmp_path):
    token = token_for(make_user("writer"))
    before = event_count()
    marker = tmp_path / "inside-the-transaction.json"
    server = Gunicorn(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path / "gunicorn.log",
                      "--workers", "1", "--worker-class", "sync",
                      app_spec="tests.test_shutdown:app_that_dies_before_commit()", env={MARKER_ENV: str(marker)})
    try:
        request = json.dumps({"title": "Cut off", "body": "Never committed."}).encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as conn:
            conn.sendall((f"POST /api/v1/articles HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                          f"{DIE_HEADER}: Cut off\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(request)}\r\nConnection: close\r\n\r\n").encode() + request)
            try:
                answer = conn.recv(65536)
            except ConnectionResetError:
                answer = b""
        assert answer == b"", answer[:300]  # the worker died: no answer at all
        inside = json.loads(marker.read_text())
        assert inside == {"articles": 1, "events": before + 1}  # both written inside the transaction

        deadline = time.monotonic() + 30  # gunicorn replaces the worker
        while call(server.base, "GET", "/healthz", timeout=2)[0] != 200:
            assert time.monotonic() < deadline, server.log()[-2000:]
            time.sleep(0.2)
        assert _articles_titled(db, "Cut off") == 0
        assert event_count() == before
        verified = audit.verify(record_result=False)
        assert verified.ok, verified.reason

        status, created = call(server.base, "POST", "/api/v1/articles", token,
                               {"title": "After the kill", "body": "Saved."}, timeout=20)
        assert status == 201, created
    finally:
        server.stop()
    assert _articles_titled(db, "After the kill") == 1
    assert event_count() == before + 1
    assert audit.verify(record_result=False).ok
