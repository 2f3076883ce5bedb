"""The shared store of finished pages on its own (``public.store``): what makes a build, the key's width,
failures as misses, and a cache write that never makes a reader wait on SQLite's write lock.

Each test here was written against a mutant of ``store.py`` that the page-level tests
(``test_finished.py``) let live: a static file left out of the build, the key's limit off by one, a
failed write reported as something other than ``False``, SQLite's short lock wait dropped.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event

import reviewflow
from reviewflow.public import store
from reviewflow.public.models import FinishedPage

#: The store writes on connections of its own (SQLite's short lock wait is set on them): the tests commit for real.
pytestmark = pytest.mark.real_commits
BODY = b"<!doctype html><title>t</title>"


def _save(shared: store.FinishedStore, key: str) -> bool:
    return shared.save(key, 7, 1, 200, {"headers": []}, BODY)


# What makes a build ------------------------------------------------------------------------------------------

def test_the_build_covers_the_checkouts_own_templates_and_code():
    assert Path(reviewflow.__file__).resolve().parents[1] == store.ROOT
    assert (store.ROOT / "templates" / "public").is_dir()
    assert (store.ROOT / "reviewflow" / "public" / "store.py").is_file()


def test_a_template_or_module_edited_is_another_build(app, tmp_path, monkeypatch):
    (tmp_path / "templates").mkdir()
    (tmp_path / "reviewflow").mkdir()
    page = tmp_path / "templates" / "page.html"
    module = tmp_path / "reviewflow" / "views.py"
    page.write_text("<p>one</p>")
    module.write_text("x = 1\n")
    monkeypatch.setattr(store, "ROOT", tmp_path)
    app.static_folder = str(tmp_path / "no-static")
    first = store.code_id(app)
    assert store.code_id(app) == first  # the same files, the same build
    page.write_text("<p>two</p>")
    second = store.code_id(app)
    module.write_text("x = 2\n")
    third = store.code_id(app)
    assert len({first, second, third}) == 3


def test_a_static_file_that_changes_size_is_another_build(app, tmp_path):
    static = tmp_path / "static"
    (static / "css").mkdir(parents=True)
    script = static / "app.js"
    script.write_text("one();")
    app.static_folder = str(static)
    before = store.code_id(app)
    script.write_text("one(); two();")  # what happened to the benchmark run whose restart read 0.17x
    bigger = store.code_id(app)
    assert bigger != before
    (static / "css" / "extra.css").write_text("p{}")  # a new file in a folder below
    assert store.code_id(app) not in (before, bigger)


def test_the_public_address_and_site_name_are_part_of_the_build(app):
    code = "the same code"
    plain = store.build_id(app, code)
    assert len(plain) == 32  # the column's width
    app.config["PUBLIC_URL"] = "https://health.example"
    addressed = store.build_id(app, code)
    app.config["SITE_NAME"] = "Another Health Site"
    named = store.build_id(app, code)
    assert len({plain, addressed, named}) == 3


# Keys, misses and failures -----------------------------------------------------------------------------------

def test_a_key_of_the_columns_width_is_kept_and_a_longer_one_is_not(app, db):
    width = FinishedPage.__table__.c.key.type.length
    assert width == 600
    shared = store.finished_store(app)
    widest = "http://localhost/articles/" + "a" * (width - len("http://localhost/articles/"))
    assert _save(shared, widest) is True
    assert shared.load(widest) == (200, {"headers": []}, BODY, 7)
    too_long = widest + "b"
    assert _save(shared, too_long) is False
    assert shared.load(too_long) is None


def test_a_store_whose_database_fails_answers_misses_and_false(app, tmp_path):
    broken = store.FinishedStore(create_engine(f"sqlite:///{tmp_path}/missing/dir/x.db"), app)
    assert _save(broken, "http://localhost/articles/a") is False
    assert broken.load("http://localhost/articles/a") is None


def test_a_row_of_another_build_is_a_miss(app, db):
    shared = store.finished_store(app)
    assert _save(shared, "http://localhost/articles/a")
    app.config["SITE_NAME"] = "Renamed"  # the build changes with the settings
    assert shared.load("http://localhost/articles/a") is None


# SQLite: a cache write never keeps a reader waiting ----------------------------------------------------------

@pytest.fixture
def sqlite_store(app, db):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock")
    return store.finished_store(app)


def test_a_write_while_another_holds_the_lock_gives_up_and_leaves_the_usual_wait(sqlite_store, db):
    pragmas: list[str] = []

    @event.listens_for(sqlite_store.engine, "before_cursor_execute")
    def note(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("PRAGMA busy_timeout"):
            pragmas.append(statement)

    try:
        holder = sqlite3.connect(sqlite_store.engine.url.database, timeout=0)
        holder.execute("BEGIN IMMEDIATE")  # another process writing
        try:
            assert _save(sqlite_store, "http://localhost/articles/locked") is False
        finally:
            holder.rollback()
            holder.close()
        assert pragmas == ["PRAGMA busy_timeout = 200", "PRAGMA busy_timeout = 10000"]
        assert _save(sqlite_store, "http://localhost/articles/locked") is True
        with sqlite_store.engine.connect() as conn:  # the pooled connection waits as long as ever for others
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
    finally:
        event.remove(sqlite_store.engine, "before_cursor_execute", note)


def test_postgresql_sends_no_sqlite_pragma(app, db):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL")
    assert store.finished_store(app).postgres is True
    assert _save(store.finished_store(app), "http://localhost/articles/pg") is True
