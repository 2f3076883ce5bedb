"""`backup --output FILE`: writing a consistent copy of the whole database to a file."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from reviewflow.backup.fileformat import (
    BATCH,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    BackupError,
    TableSpec,
    member_name,
    row_encoder,
    specs_of,
    whole_digest,
)
from reviewflow.extensions import db, utcnow

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
                specs, unknown = specs_of(conn)
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
