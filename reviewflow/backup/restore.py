"""`restore FILE`: loading a backup into a new, empty database, checked before and after."""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import inspect, literal_column, select, table, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from reviewflow.audit import services as audit
from reviewflow.backup.fileformat import (
    BATCH,
    BOOKKEEPING,
    COPY_DECODE,
    DECODE,
    DERIVED,
    Backup,
    BackupError,
    TableSpec,
    check_file,
    fixer,
    mismatch,
    open_backup,
    row_encoder,
)
from reviewflow.extensions import db

# Restore ----------------------------------------------------------------------------------------------

def _script():
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())


def _current_revision(engine: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def data_tables(engine: Engine) -> list[str]:
    """The tables of the database that hold a row; the empty chain head that the migrations write
    (``audit_head`` at sequence 0), the public pages' counter (``public_state``) and derived tables are not data."""
    found = []
    with engine.connect() as conn:
        for name in sorted(set(inspect(conn).get_table_names()) - BOOKKEEPING - DERIVED):
            t = table(name)
            query = select(literal_column("1")).select_from(t).limit(1)
            if name == "audit_head":
                query = query.where(literal_column("seq") != 0)
            if name == "public_state":
                continue
            if conn.execute(query).first() is not None:
                found.append(name)
    return found


def _migrate_to(engine: Engine, revision: str) -> str | None:
    """Bring the (empty) database's schema to ``revision``, up or down; returns the revision it was at."""
    from flask_migrate import downgrade, upgrade

    current = _current_revision(engine)
    if current == revision:
        return current
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names()) - BOOKKEEPING
    if current is None and tables:
        raise BackupError(f"the database has tables ({', '.join(sorted(tables)[:5])}…) but no schema revision: "
                          "restore into a new, empty database (restore creates the schema)")
    newer = current is not None and revision in {r.revision for r in _script().iterate_revisions(current, "base")}
    (downgrade if newer else upgrade)(revision=revision)
    return current


def _load(conn: Connection, backup: Backup) -> None:
    """Insert every table's rows, in the manifest's (dependency) order: PostgreSQL through COPY, SQLite in
    batches of ``executemany``."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.exec_driver_sql("SET CONSTRAINTS ALL DEFERRED")
    else:
        conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")  # a row may name a later row of its own table
    conn.execute(text("DELETE FROM audit_head WHERE seq = 0"))  # the empty chain head the migrations wrote
    if "public_state" in {spec.name for spec in backup.specs}:
        conn.execute(text("DELETE FROM public_state"))  # the migrations' counter; the backup has the source's
    for spec in backup.specs:
        rows = (json.loads(line) for line in backup.lines(spec))
        (_copy if postgres else _insert)(conn, spec, rows)


def _copy(conn: Connection, spec: TableSpec, rows: Iterator[list]) -> None:
    """PostgreSQL: stream the rows in with COPY, in the transaction of ``conn``; times, dates and decimals go as
    the backup writes them (ISO 8601 with the offset), which PostgreSQL reads exactly."""
    quote, fix = conn.dialect.identifier_preparer.quote, fixer(spec.kinds, COPY_DECODE)
    columns = ", ".join(quote(name) for name in spec.columns)
    with conn.connection.driver_connection.cursor() as cursor, \
            cursor.copy(f"COPY {quote(spec.name)} ({columns}) FROM STDIN") as copy:
        for values in rows:
            copy.write_row(fix(values))


def _insert(conn: Connection, spec: TableSpec, rows: Iterator[list]) -> None:
    """SQLite: insert the rows in batches, through the kinds' types (which store times as SQLAlchemy does)."""
    insert, fix, batch = spec.selectable().insert(), fixer(spec.kinds, DECODE), []
    for values in rows:
        batch.append(dict(zip(spec.columns, fix(values), strict=True)))
        if len(batch) >= BATCH:
            conn.execute(insert, batch)
            batch = []
    if batch:
        conn.execute(insert, batch)


def reset_sequences(conn: Connection, specs: Iterable[TableSpec]) -> int:
    """PostgreSQL: set each serial or identity column's sequence past the largest value loaded, so new rows get
    fresh ids. SQLite needs nothing (a rowid goes on from the largest). Returns how many were set."""
    if conn.dialect.name != "postgresql":
        return 0
    quote, count = conn.dialect.identifier_preparer.quote, 0
    for spec in specs:
        for name, kind in zip(spec.columns, spec.kinds, strict=True):
            if kind != "int":
                continue
            sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                    {"t": quote(spec.name), "c": name}).scalar()
            if sequence:
                conn.execute(text(f"SELECT setval(:s, COALESCE((SELECT max({quote(name)}) FROM {quote(spec.name)}), 0)"
                                  " + 1, false)"), {"s": sequence})
                count += 1
    return count


def compare_database(conn: Connection, specs: Iterable[TableSpec]) -> list[str]:
    """Read every table back from the database and compare its rows with the manifest, byte for byte."""
    problems = []
    for spec in specs:
        digest, count, encode = hashlib.sha256(), 0, row_encoder(spec.kinds)
        for row in conn.execution_options(yield_per=BATCH).execute(spec.ordered_select(conn.dialect.name)):
            digest.update(encode(row))
            count += 1
        problems.extend(mismatch(spec, count, digest.hexdigest(), "in the database has"))
    return problems


@dataclass
class RestoreReport:
    """What ``restore_backup`` did; ``verify`` is the audit verification of the copy."""

    manifest: dict
    tables: int
    rows: int
    load_seconds: float
    sequences: int
    upgraded_from: str | None
    verify: audit.VerifyResult | None
    key_problem: str = ""


def restore_backup(path: Path, say=lambda line: None) -> RestoreReport:
    """Restore the backup at ``path`` into the app's database, which must hold no data; see the module
    docstring for the steps. ``say`` is told each step as it is done. Raises BackupError, with the database
    left without data, for a file that does not match its manifest, a schema newer than this code knows, a
    database that holds data, or rows that do not read back as the manifest says. Returns the report,
    with the audit verification's result, which the caller must check."""
    engine = db.engine
    backup = open_backup(Path(path))
    m = backup.manifest
    say(f"Backup taken {m.get('taken_at')} from {m.get('source_engine')}, schema revision {backup.revision}: "
        f"{len(backup.specs)} tables, {backup.rows:,} rows.")
    problems = check_file(backup)
    if problems:
        raise BackupError("the backup does not match its manifest, so it was altered or damaged; nothing was "
                          "restored:\n  " + "\n  ".join(problems))
    say("The file matches its manifest (row counts and SHA-256 of every table).")
    script = _script()
    if not _known(script, backup.revision):
        raise BackupError(f"the backup's schema revision {backup.revision} is newer than this code knows (it knows "
                          f"up to {script.get_current_head()}): restore it with the release that wrote it, or a "
                          "later one")
    _require_empty(engine)
    was = _migrate_to(engine, backup.revision)
    say(f"Schema at revision {backup.revision}" + ("." if was == backup.revision else " (created)." if was is None
                                                    else f" (the empty database's, migrated from {was})."))
    started = time.perf_counter()
    sequences = _load_checked(engine, backup)
    load_seconds = time.perf_counter() - started
    say(f"Loaded {backup.rows:,} rows into {len(backup.specs)} tables in one transaction in {load_seconds:.2f} s; "
        "read back, every table's row count and SHA-256 match the manifest."
        + (f" {sequences} sequences reset." if sequences else ""))
    upgraded_from = None
    head = script.get_current_head()
    if backup.revision != head:
        from flask_migrate import upgrade

        upgrade(revision=head)
        upgraded_from = backup.revision
        say(f"Schema upgraded from revision {backup.revision} to {head}.")
    db.session.remove()
    result = audit.verify(record_result=False)
    return RestoreReport(m, len(backup.specs), backup.rows, load_seconds, sequences, upgraded_from, result,
                         "" if result.ok else key_problem(engine))


def _require_empty(engine: Engine) -> None:
    """Refuse a database that cannot be reached or already holds data: a restore never mixes two histories."""
    try:
        held = data_tables(engine)
    except SQLAlchemyError as exc:
        raise BackupError(f"cannot use the database {engine.url.render_as_string(hide_password=True)} "
                          f"({first_line(exc)}); create it first (e.g. createdb), restore creates the schema") from exc
    if held:
        raise BackupError(f"the database already holds data (in {', '.join(held[:6])}"
                          f"{'…' if len(held) > 6 else ''}): restore only into a new, empty database; nothing was "
                          "changed")


def _load_checked(engine: Engine, backup: Backup) -> int:
    """Load every row in one transaction, reset the sequences and read every table back against the
    manifest; commits only when they all match. Returns how many sequences were reset."""
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # the whole load in one transaction, as on PostgreSQL
            _load(conn, backup)
            sequences = reset_sequences(conn, backup.specs)
            problems = compare_database(conn, backup.specs)
            if problems:
                raise BackupError("the rows loaded do not read back as the manifest says, so nothing was kept:\n  "
                                  + "\n  ".join(problems))
    except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as exc:  # COPY raises the driver's own errors
        raise BackupError(f"the database refused the rows, so nothing was kept (the schema at revision "
                          f"{backup.revision} stays, empty): {first_line(exc)}") from exc
    return sequences


def first_line(exc: Exception) -> str:
    """The database's own words, without SQLAlchemy's statement dump."""
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def _known(script, revision: str) -> bool:
    """Whether ``revision`` is one of this code's migrations."""
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic raises its own errors for an unknown or malformed id
        return False


def key_problem(engine: Engine) -> str:
    """When the chain is signed with keys this app does not hold: says which, else ""."""
    with engine.connect() as conn:
        used = set(conn.execute(text("SELECT DISTINCT key_id FROM audit_events")).scalars())
    _, keys = audit.keyring()
    missing = sorted(used - set(keys))
    if not missing:
        return ""
    return (f"the backup's audit events are signed with key id {', '.join(missing)}, but this app's "
            f"REVIEWFLOW_AUDIT_KEY (with REVIEWFLOW_AUDIT_OLD_KEYS) has id {', '.join(sorted(keys))}")
