"""The Alembic migrations build exactly the schema the models describe, guards included.

Each test starts from an empty database (a new SQLite file, or PostgreSQL's ``public``
schema dropped and recreated), runs ``flask db upgrade`` through Flask-Migrate, and then
asks Alembic's autogenerate to compare the result with the models: any difference means a
model changed without a migration.
"""
from __future__ import annotations

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

import config
from reviewflow import create_app
from reviewflow.extensions import db

PG_URL = os.environ.get("REVIEWFLOW_TEST_DATABASE_URL", "")


@pytest.fixture
def empty_app(tmp_path):
    """An app bound to an empty database: no tables, no create_all."""
    url = PG_URL or f"sqlite:///{tmp_path / 'migrated.db'}"

    class Cfg(config.TestConfig):
        SQLALCHEMY_DATABASE_URI = url

    application = create_app(Cfg)
    with application.app_context():
        if url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        assert inspect(db.engine).get_table_names() == []
        yield application
        db.session.remove()
        db.engine.dispose()


def _differences(app) -> list:
    """What autogenerate would write into a new migration, with the app's own comparison options."""
    opts = dict(app.extensions["migrate"].configure_args)
    opts.pop("process_revision_directives", None)
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=opts)
        return compare_metadata(context, db.metadata)


def test_upgrade_creates_every_table_of_the_models(empty_app):
    upgrade()
    tables = set(inspect(db.engine).get_table_names())
    assert set(db.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_migrations_and_models_agree(empty_app):
    upgrade()
    assert _differences(empty_app) == []


def test_migrations_set_compare_type_so_type_changes_are_caught(empty_app):
    """The comparison above is only meaningful if column types are compared too."""
    assert empty_app.extensions["migrate"].configure_args.get("compare_type") is True


def test_migration_attaches_audit_guards_and_chain_head(empty_app):
    upgrade()
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "sqlite":
            triggers = set(conn.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'")).scalars())
            assert {"audit_events_no_update", "audit_events_no_delete"} <= triggers
        else:
            triggers = set(conn.execute(text(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_events'::regclass AND NOT tgisinternal"
            )).scalars())
            assert {"audit_events_no_update", "audit_events_no_truncate"} <= triggers
        head = conn.execute(text("SELECT id, seq, hash FROM audit_head")).all()
    assert [tuple(r) for r in head] == [(1, 0, "0" * 64)]


def test_migrated_database_refuses_to_rewrite_events(empty_app):
    """The guards written by the migration work, not only the ones create_all attaches in tests."""
    from reviewflow.audit import services as audit

    upgrade()
    audit.record("test.event", details={"n": 1})
    db.session.commit()
    for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError), db.engine.begin() as conn:
            conn.execute(text(statement))
    assert audit.verify(record_result=False).ok


def test_downgrade_to_base_and_upgrade_again(empty_app):
    upgrade()
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade()
    assert _differences(empty_app) == []
