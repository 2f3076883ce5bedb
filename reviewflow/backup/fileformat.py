"""The backup file's format: what a table and its values are in the file, and reading a file back
(see the package's docstring for the format itself)."""
from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import column, inspect, select, table
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator

from reviewflow.extensions import UTCDateTime, db

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


def fixer(kinds: list[str], codecs: dict) -> Callable[[list], list]:
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
    fix = fixer(kinds, ENCODE)
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


def specs_of(conn: Connection) -> tuple[list[TableSpec], list[str]]:
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
        problems.extend(mismatch(spec, count, digest.hexdigest(), "holds"))
    return problems


def mismatch(spec: TableSpec, count: int, sha256: str, verb: str) -> list[str]:
    if count != spec.rows:
        return [f"table {spec.name} {verb} {count} rows, the manifest says {spec.rows}"]
    if sha256 != spec.sha256:
        return [f"table {spec.name}: its SHA-256 is {sha256[:16]}…, the manifest says {spec.sha256[:16]}…"]
    return []
