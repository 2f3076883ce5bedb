"""`backup --output FILE` and `restore FILE`: a copy of the whole database that does not depend on the
database engine, and that proves itself when it is loaded back.

The file is a zip archive: ``manifest.json`` and one JSON Lines member per table (``tables/<name>.jsonl``),
each line a row as a JSON array in the order of the manifest's columns. Values are encoded losslessly by the
column's kind (``KINDS``): timestamps as ISO 8601 in UTC with microseconds, dates as YYYY-MM-DD, booleans,
integers and text as JSON, NULL as ``null``. Rows are in primary-key order (text keys in byte order), so the
same data gives the same bytes on SQLite and PostgreSQL. The manifest holds the format, the Alembic schema
revision, every table's columns, row count and the SHA-256 of its member, and a SHA-256 over them all.

The backup reads every table inside one read-only snapshot (PostgreSQL REPEATABLE READ READ ONLY; SQLite one
read transaction, which WAL keeps apart from writers), so it is consistent while the app runs; rows are
streamed (``yield_per``) and written to a temporary file renamed into place at the end. The tables are those
of ``db.metadata`` as the database holds them, so a table a later migration adds is in the next backup
without a change here. None is left out: ``idempotency_keys`` neither, as each is written in the transaction
of the POST it answers, so the snapshot holds both or neither, and a client retrying across a move gets the
first answer rather than doing the thing twice (keys expire after 24 hours, so they cost little).

A restore checks the file against its manifest first, refuses a database that holds data and a schema newer
than this code knows, creates the schema by running the migrations to the backup's revision, loads every
table in dependency order in one transaction, resets PostgreSQL's sequences, reads the tables back and
compares them with the manifest before committing, then migrates to the code's revision and runs the audit
verification. The audit chain is keyed with ``REVIEWFLOW_AUDIT_KEY``, which is not in the backup: a copy
restored under another key loads, but does not verify.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy import column, inspect, literal_column, select, table, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import TypeDecorator

from reviewflow.audit import services as audit
from reviewflow.extensions import UTCDateTime, db, utcnow

FORMAT = "reviewflow-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: Rows fetched, written and inserted at a time: memory stays small whatever the size of a table.
BATCH = 2_000
#: Tables that are the schema's bookkeeping, not data: never copied, never counted as data.
BOOKKEEPING = {"alembic_version"}
#: Derived data, rebuilt from the published record at will: the public site's finished pages and their
#: change stamps (``public.pagecache``). Never copied; a restored database starts with them empty.
DERIVED = {"finished_pages", "page_stamps"}


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


# Values -----------------------------------------------------------------------------------------------

#: A column's kind -> the SQLAlchemy type that reads and writes it on every engine.
KINDS = {"int": sa.Integer(), "text": sa.String(), "bool": sa.Boolean(), "datetime": UTCDateTime(),
         "naive_datetime": sa.DateTime(), "date": sa.Date(), "float": sa.Float(), "decimal": sa.Numeric(),
         "bytes": sa.LargeBinary(), "json": sa.JSON()}


def kind_of(col) -> str:
    """The kind of a column (a key of ``KINDS``). Raises BackupError for a type with no lossless encoding here,
    rather than writing a backup that cannot be read back exactly."""
    type_ = col.type
    if isinstance(type_, UTCDateTime):
        return "datetime"
    if isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    for cls, kind in ((sa.Boolean, "bool"), (sa.Integer, "int"), (sa.DateTime, "datetime"), (sa.Date, "date"),
                      (sa.Float, "float"), (sa.Numeric, "decimal"), (sa.String, "text"), (sa.LargeBinary, "bytes"),
                      (sa.JSON, "json")):
        if isinstance(type_, cls):
            if kind == "datetime" and not getattr(type_, "timezone", False):
                return "naive_datetime"
            return kind
    raise BackupError(f"column {col.table.name}.{col.name} has type {col.type!r}, which backup cannot encode")


#: kind -> how a value (not NULL) of a kind that JSON does not hold as it is is written in a backup, and read back.
ENCODE = {"datetime": lambda v: v.astimezone(UTC).isoformat(timespec="microseconds"),
          "naive_datetime": lambda v: v.isoformat(timespec="microseconds"), "date": date.isoformat, "decimal": str,
          "bytes": lambda v: base64.b64encode(v).decode()}
DECODE = {"datetime": datetime.fromisoformat, "naive_datetime": datetime.fromisoformat, "date": date.fromisoformat,
          "decimal": Decimal, "bytes": base64.b64decode}
#: What PostgreSQL's COPY cannot read from the backup's text as it is (it parses times, dates and decimals itself).
COPY_DECODE = {"bytes": base64.b64decode, "json": json.dumps}
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def encode_value(kind: str, value):
    """A value as JSON can hold it, exactly: see the module docstring."""
    return value if value is None or kind not in ENCODE else ENCODE[kind](value)


def decode_value(kind: str, value):
    """The inverse of ``encode_value``."""
    return value if value is None or kind not in DECODE else DECODE[kind](value)


def _fixer(kinds: list[str], codecs: dict) -> Callable[[list], list]:
    """A function that applies ``codecs`` in place to the values of a row that need one (NULL never does)."""
    fixes = [(i, codecs[k]) for i, k in enumerate(kinds) if k in codecs]

    def fix(values: list) -> list:
        for i, fn in fixes:
            if values[i] is not None:
                values[i] = fn(values[i])
        return values

    return fix


def row_encoder(kinds: list[str]) -> Callable[[Iterable], bytes]:
    """A function writing one row as one line of the backup: a compact JSON array, UTF-8, ending in LF."""
    fix = _fixer(kinds, ENCODE)
    return lambda row: (_dumps(fix(list(row))) + "\n").encode()


def encode_row(kinds: list[str], row) -> bytes:
    """One row as one line of the backup (``row_encoder``)."""
    return row_encoder(kinds)(row)


# Tables -----------------------------------------------------------------------------------------------

@dataclass
class TableSpec:
    """One table as a backup holds it: its columns and their kinds, the columns its rows are ordered by."""

    name: str
    columns: list[str]
    kinds: list[str]
    order_by: list[str]
    rows: int = 0
    sha256: str = ""

    def selectable(self):
        """A lightweight table with the types of the kinds: reads and writes the same values on any engine,
        without the models (a backup of an older schema may have columns the models no longer have)."""
        return table(self.name, *(column(n, KINDS[k]) for n, k in zip(self.columns, self.kinds, strict=True)))

    def ordered_select(self, dialect: str):
        """Every row in primary-key order; text compared byte by byte (PostgreSQL's collation "C", SQLite's
        BINARY), so both engines give the same order and so the same hash."""
        t = self.selectable()
        keys = []
        for name in self.order_by:
            key = t.c[name]
            if dialect == "postgresql" and self.kinds[self.columns.index(name)] == "text":
                key = key.collate("C")
            keys.append(key)
        return select(*t.c).order_by(*keys)

    def manifest(self) -> dict:
        """The table's entry in ``manifest.json``."""
        return {"name": self.name, "columns": [{"name": n, "kind": k} for n, k in zip(self.columns, self.kinds,
                                                                                      strict=True)],
                "order_by": self.order_by, "rows": self.rows, "sha256": self.sha256}

    @classmethod
    def from_manifest(cls, entry: dict) -> TableSpec:
        """The table an entry of ``manifest.json`` describes; raises BackupError for a kind this code cannot read."""
        kinds = [c["kind"] for c in entry["columns"]]
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise BackupError(f"table {entry['name']}: unknown column kinds {sorted(unknown)}")
        return cls(entry["name"], [c["name"] for c in entry["columns"]], kinds, list(entry["order_by"]),
                   int(entry["rows"]), entry["sha256"])


def member_name(table_name: str) -> str:
    """Where a table's rows are in the zip."""
    return f"tables/{table_name}.jsonl"


def whole_digest(revision: str, specs: Iterable[TableSpec]) -> str:
    """The SHA-256 of the whole backup: over the schema revision and each table's name, row count and hash."""
    digest = hashlib.sha256(f"{FORMAT} {FORMAT_VERSION}\n{revision}\n".encode())
    for spec in specs:
        digest.update(f"{spec.name}\n{spec.rows}\n{spec.sha256}\n".encode())
    return digest.hexdigest()


def _specs_of(conn: Connection) -> tuple[list[TableSpec], list[str]]:
    """The tables to copy, in dependency order: those of ``db.metadata`` with the columns the database has
    (a database not yet upgraded lacks the newest ones); and the names of tables the models do not know."""
    inspector = inspect(conn)
    present = set(inspector.get_table_names())
    specs = []
    for t in db.metadata.sorted_tables:
        if t.name not in present or t.name in DERIVED:
            continue
        have = {c["name"] for c in inspector.get_columns(t.name)}
        cols = [c for c in t.columns if c.name in have]
        order = [c.name for c in t.primary_key.columns if c.name in have] or [c.name for c in cols]
        specs.append(TableSpec(t.name, [c.name for c in cols], [kind_of(c) for c in cols], order))
    unknown = sorted(present - set(db.metadata.tables) - BOOKKEEPING - DERIVED)
    return specs, unknown


# Backup -----------------------------------------------------------------------------------------------

@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see one committed state of the database, however long they take.

    PostgreSQL: a REPEATABLE READ READ ONLY transaction (what pg_dump uses). SQLite: one read transaction
    opened with BEGIN (the driver would otherwise read each statement in a state of its own); in WAL mode
    writers go on committing and the reader keeps its snapshot."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn.begin():
                yield conn
            return
        conn.exec_driver_sql("BEGIN")
        try:
            yield conn
        finally:
            conn.rollback()


@dataclass
class BackupReport:
    """What ``write_backup`` wrote."""

    path: Path
    manifest: dict
    seconds: float
    size: int
    unknown_tables: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(t["rows"] for t in self.manifest["tables"])


def _dump_table(conn: Connection, spec: TableSpec, out) -> None:
    """Stream one table's rows into ``out`` (a zip member), counting and hashing them."""
    digest, count, encode = hashlib.sha256(), 0, row_encoder(spec.kinds)
    result = conn.execution_options(yield_per=BATCH).execute(spec.ordered_select(conn.dialect.name))
    for row in result:
        line = encode(row)
        out.write(line)
        digest.update(line)
        count += 1
    spec.rows, spec.sha256 = count, digest.hexdigest()


def write_backup(path: Path, engine: Engine | None = None) -> BackupReport:
    """Write a backup of the database to ``path``: first to a temporary file beside it, renamed into place
    only once complete and on disk, so a failed backup never leaves a truncated file under the name.
    The file is created readable by its owner only: it holds password and token hashes.
    Raises BackupError when the database has no schema revision (it was not made by ``db upgrade``)."""
    engine = engine or db.engine
    started = time.perf_counter()
    path = Path(path)
    if path.is_dir():
        raise BackupError(f"{path} is a directory; give a file name, e.g. {path / 'reviewflow.zip'}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            with snapshot(engine) as conn, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
                revision = _schema_revision(conn)
                taken_at = utcnow()
                specs, unknown = _specs_of(conn)
                for spec in specs:
                    with zf.open(member_name(spec.name), "w", force_zip64=True) as member:
                        _dump_table(conn, spec, member)
                manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "schema_revision": revision,
                            "taken_at": taken_at.isoformat(timespec="microseconds"),
                            "source_engine": conn.dialect.name, "tables": [s.manifest() for s in specs],
                            "not_copied": unknown, "sha256": whole_digest(revision, specs)}
                zf.writestr(MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return BackupReport(path, manifest, time.perf_counter() - started, path.stat().st_size, unknown)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable: a crash just after it leaves the new name, not the old or none."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _schema_revision(conn: Connection) -> str:
    """The database's Alembic revision, which a restore rebuilds the schema at."""
    try:
        revisions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError:
        revisions = []
    if len(revisions) != 1:
        raise BackupError("the database has no single schema revision (no alembic_version row): it was not made "
                          "by `flask --app reviewflow db upgrade`, so a restore could not rebuild its schema")
    return revisions[0]


# Reading a backup -------------------------------------------------------------------------------------

@dataclass
class Backup:
    """A backup file opened for restoring: its manifest and its tables."""

    zf: zipfile.ZipFile
    manifest: dict
    specs: list[TableSpec]

    @property
    def revision(self) -> str:
        return self.manifest["schema_revision"]

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.specs)

    def lines(self, spec: TableSpec) -> Iterator[bytes]:
        """The table's rows as the file holds them, one line (bytes, with its LF) at a time."""
        with self.zf.open(member_name(spec.name)) as member:
            yield from member


def open_backup(path: Path) -> Backup:
    """Open a backup and read its manifest. Raises BackupError for a file that is not a backup of this format."""
    try:
        zf = zipfile.ZipFile(path)
        manifest = json.loads(zf.read(MANIFEST))
    except FileNotFoundError as exc:
        raise BackupError(f"{path}: no such file") from exc
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise BackupError(f"{path} is not a reviewflow backup ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not a reviewflow backup (no {FORMAT} manifest)")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"{path} is a backup of format {manifest.get('format_version')}; this code reads format "
                          f"{FORMAT_VERSION}")
    try:
        specs = [TableSpec.from_manifest(entry) for entry in manifest["tables"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"{path}: its manifest cannot be read ({exc!r})") from exc
    return Backup(zf, manifest, specs)


def check_file(backup: Backup) -> list[str]:
    """What in the file does not match its manifest (row counts, each table's SHA-256, the whole's): an empty
    list when the file is what the backup wrote. Reads every member through once, before the database is
    touched."""
    problems = []
    if whole_digest(backup.revision, backup.specs) != backup.manifest.get("sha256"):
        problems.append("the manifest's own SHA-256 does not match its tables")
    for spec in backup.specs:
        digest, count = hashlib.sha256(), 0
        try:
            for line in backup.lines(spec):
                digest.update(line)
                count += 1
        except (KeyError, zipfile.BadZipFile, OSError) as exc:
            problems.append(f"table {spec.name}: cannot be read ({exc})")
            continue
        problems.extend(_mismatch(spec, count, digest.hexdigest(), "holds"))
    return problems


def _mismatch(spec: TableSpec, count: int, sha256: str, verb: str) -> list[str]:
    if count != spec.rows:
        return [f"table {spec.name} {verb} {count} rows, the manifest says {spec.rows}"]
    if sha256 != spec.sha256:
        return [f"table {spec.name}: its SHA-256 is {sha256[:16]}…, the manifest says {spec.sha256[:16]}…"]
    return []


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
    quote, fix = conn.dialect.identifier_preparer.quote, _fixer(spec.kinds, COPY_DECODE)
    columns = ", ".join(quote(name) for name in spec.columns)
    with conn.connection.driver_connection.cursor() as cursor, \
            cursor.copy(f"COPY {quote(spec.name)} ({columns}) FROM STDIN") as copy:
        for values in rows:
            copy.write_row(fix(values))


def _insert(conn: Connection, spec: TableSpec, rows: Iterator[list]) -> None:
    """SQLite: insert the rows in batches, through the kinds' types (which store times as SQLAlchemy does)."""
    insert, fix, batch = spec.selectable().insert(), _fixer(spec.kinds, DECODE), []
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
        problems.extend(_mismatch(spec, count, digest.hexdigest(), "in the database has"))
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
    try:
        held = data_tables(engine)
    except SQLAlchemyError as exc:
        raise BackupError(f"cannot use the database {engine.url.render_as_string(hide_password=True)} "
                          f"({_first_line(exc)}); create it first (e.g. createdb), restore creates the schema") from exc
    if held:
        raise BackupError(f"the database already holds data (in {', '.join(held[:6])}"
                          f"{'…' if len(held) > 6 else ''}): restore only into a new, empty database; nothing was "
                          "changed")
    was = _migrate_to(engine, backup.revision)
    say(f"Schema at revision {backup.revision}" + ("." if was == backup.revision else " (created)." if was is None
                                                    else f" (the empty database's, migrated from {was})."))
    started = time.perf_counter()
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
                          f"{backup.revision} stays, empty): {_first_line(exc)}") from exc
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


def _first_line(exc: Exception) -> str:
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


# Commands ---------------------------------------------------------------------------------------------

def register(app: Flask) -> None:
    """Add `backup` and `restore` to the app's ``flask`` commands (called by ``cli.register``)."""
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:.2f} MiB" if size >= 1024 * 1024 else f"{size / 1024:.1f} KiB"


@click.command("backup")
@click.option("--output", required=True, type=click.Path(dir_okay=False, writable=True),
              help="The file to write (a zip of JSON Lines); replaced only once the new backup is complete.")
def backup_command(output):
    """Write a consistent copy of the whole database while the app runs, in a format no engine owns."""
    try:
        report = write_backup(Path(output))
    except BackupError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except SQLAlchemyError as exc:
        click.echo(f"Error: the database could not be read, no backup was written: {_first_line(exc)}", err=True)
        sys.exit(1)
    m = report.manifest
    click.echo(f"Backup written to {report.path}: {len(m['tables'])} tables, {report.rows:,} rows, "
               f"{_mib(report.size)} in {report.seconds:.2f} s (schema revision {m['schema_revision']}, "
               f"from {m['source_engine']}).")
    for name in report.unknown_tables:
        click.echo(f"Warning: table {name} is not one of reviewflow's and was not copied.", err=True)
    click.echo(f"SHA-256 {m['sha256']}")


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def restore_command(file):
    """Load a backup into a new, empty database (REVIEWFLOW_DATABASE_URL): create the schema, load it, compare it
    with the backup's manifest and verify the audit chain."""
    started = time.perf_counter()
    try:
        report = restore_backup(Path(file), say=click.echo)
    except BackupError as exc:
        click.echo(f"Restore refused: {exc}", err=True)
        sys.exit(1)
    result = report.verify
    if not result.ok:
        where = f" at event {result.first_bad_seq}" if result.first_bad_seq is not None else ""
        why = (f"Wrong audit key: {report.key_problem}. " if report.key_problem else
               "The copy holds exactly what the file holds, so either the chain was already broken in the database "
               "that was backed up, or the file was altered together with its manifest. ")
        message = (f"Audit chain does NOT verify on the copy{where}: {result.reason}.\n{why}The audit chain is keyed "
                   "with REVIEWFLOW_AUDIT_KEY, which no backup holds: a restore verifies only under the key (and "
                   "REVIEWFLOW_AUDIT_OLD_KEYS) of the app that wrote the backup. The rows are loaded and match the "
                   "manifest; with the right key set, run `flask --app reviewflow audit verify`.")
        click.echo(message, err=True)
        sys.exit(2)
    click.echo(f"Audit chain verified on the copy: {result.count} events.")
    click.echo(f"Restore complete in {time.perf_counter() - started:.2f} s: {report.rows:,} rows in "
               f"{report.tables} tables.")
