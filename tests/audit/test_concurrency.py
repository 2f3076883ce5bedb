"""Concurrent appends never fork the chain or reuse a sequence number.

Several threads, each with its own app context and so its own session and connection, act at
once through the services. On PostgreSQL the chain head's row lock serialises the appends; on
SQLite the database's single writer does. Afterwards the chain verifies and the sequence is
1..N without gaps or duplicates.
"""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from reviewflow.articles import services as articles
from reviewflow.audit import services as audit
from reviewflow.audit.models import AuditEvent, AuditHead
from reviewflow.auth.models import User
from reviewflow.auth.services import with_roles
from reviewflow.extensions import db
from tests.factories import BODY, last_seq, make_user

#: Appenders in threads, each with a connection of its own: real commits.
pytestmark = pytest.mark.real_commits

ACTIONS = 10


def _run_threads(app, writer_id: int, threads: int) -> list[BaseException]:
    """Each thread creates an article and submits it, in turn, ACTIONS times in all (one event each)."""
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with app.app_context():
                writer = db.session.get(User, writer_id, options=with_roles())
                barrier.wait(timeout=30)
                article = None
                for i in range(ACTIONS):
                    if article is None:
                        article = articles.create_article(writer, f"Thread {n} article {i}", BODY, "Concurrency")
                    else:
                        articles.submit_article(writer, article)
                        article = None
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,), name=f"appender-{n}") for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not any(w.is_alive() for w in workers), "a thread hung: appends deadlocked"
    return errors


def _check_chain(expected: int) -> None:
    db.session.expire_all()
    seqs = list(db.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
    assert seqs == list(range(1, expected + 1)), "sequence numbers 1..N, no gaps, no duplicates"
    hashes = list(db.session.scalars(select(AuditEvent.prev_hash)))
    assert len(hashes) == len(set(hashes)), "two events link to the same predecessor: the chain forked"
    head = db.session.get(AuditHead, 1)
    assert head.seq == expected
    result = audit.verify(record_result=False)
    assert result.ok, result.reason
    assert result.count == expected


def test_concurrent_appends_on_postgres(app, db, is_postgres):
    if not is_postgres:
        pytest.skip("8 concurrent writers need PostgreSQL (set REVIEWFLOW_TEST_DATABASE_URL); "
                    "SQLite runs the smaller test below")
    writer = make_user("writer")
    start = last_seq()
    errors = _run_threads(app, writer.id, threads=8)
    assert errors == []
    _check_chain(start + 8 * ACTIONS)


def test_concurrent_appends_on_sqlite(app, db, is_postgres):
    if is_postgres:
        pytest.skip("the PostgreSQL run uses the 8-thread test above")
    writer = make_user("writer")
    start = last_seq()
    errors = _run_threads(app, writer.id, threads=4)
    assert errors == []
    _check_chain(start + 4 * ACTIONS)
