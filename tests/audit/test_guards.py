"""The record of verification runs is append-only: the database refuses UPDATE and DELETE on
``audit_verifications`` (and TRUNCATE on PostgreSQL), so a failed run cannot be quietly erased or
turned into a pass; in the schema the tests build and in one built by the migrations.
"""
from __future__ import annotations

import os

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import DBAPIError

from reviewflow.audit import services as audit
from reviewflow.audit.models import AuditVerification
from reviewflow.extensions import db as _db
from tests.factories import make_app

PG_URL = os.environ.get("REVIEWFLOW_TEST_DATABASE_URL", "")
STATEMENTS = ["UPDATE audit_verifications SET ok = true, message = 'all fine'",
              "UPDATE audit_verifications SET first_bad_seq = NULL WHERE ok = false",
              "DELETE FROM audit_verifications WHERE ok = false",
              "DELETE FROM audit_verifications"]


@pytest.fixture
def migrated(tmp_path):
    """An app whose schema was built by ``flask db upgrade`` alone (no create_all)."""
    url = PG_URL or f"sqlite:///{tmp_path / 'migrated.db'}"
    application = make_app(url)
    with application.app_context():
        if url.startswith("postgresql"):
            with _db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        assert inspect(_db.engine).get_table_names() == []
        upgrade()
        yield application
        _db.session.remove()
        _db.engine.dispose()


def _runs() -> list[tuple]:
    return [tuple(r) for r in _db.session.execute(
        select(AuditVerification.ok, AuditVerification.first_bad_seq, AuditVerification.message)
        .order_by(AuditVerification.id))]


def _a_failed_run_then_a_good_one() -> list[tuple]:
    _db.session.add(AuditVerification(ok=False, events=7, first_bad_seq=5, message="event 5 (auth.login) was edited"))
    _db.session.commit()
    assert audit.verify().ok  # verifying appends its own row: INSERT stays allowed
    runs = _runs()
    assert runs[0] == (False, 5, "event 5 (auth.login) was edited") and runs[1][0] is True
    return runs


def _refused(statement: str) -> None:
    _db.session.commit()  # the test's own session must hold no lock that the statement waits for
    with pytest.raises(DBAPIError, match="audit verifications are append-only"), _db.engine.begin() as conn:
        conn.execute(text(statement))
    _db.session.expire_all()


@pytest.mark.parametrize("statement", STATEMENTS)
def test_verification_runs_cannot_be_changed_or_deleted(db, statement):
    runs = _a_failed_run_then_a_good_one()
    _refused(statement)
    assert _runs() == runs


@pytest.mark.parametrize("statement", STATEMENTS)
def test_a_migrated_database_refuses_too(migrated, statement):
    runs = _a_failed_run_then_a_good_one()
    _refused(statement)
    assert _runs() == runs


@pytest.mark.parametrize("schema", ["db", "migrated"], ids=["create_all", "migrated"])
def test_postgres_also_refuses_truncate(request, schema):
    if not PG_URL:
        pytest.skip("TRUNCATE exists only on PostgreSQL")
    request.getfixturevalue(schema)
    _a_failed_run_then_a_good_one()
    _refused("TRUNCATE audit_verifications")
    assert _db.session.scalar(select(func.count()).select_from(AuditVerification)) == 2
