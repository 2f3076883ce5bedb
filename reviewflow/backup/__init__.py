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
from reviewflow.backup.commands import register
from reviewflow.backup.dump import BackupReport, snapshot, write_backup
from reviewflow.backup.fileformat import (
                                          DERIVED,
                                          KINDS,
                                          Backup,
                                          BackupError,
                                          TableSpec,
                                          check_file,
                                          decode_value,
                                          encode_row,
                                          encode_value,
                                          open_backup,
                                          whole_digest,
)
from reviewflow.backup.restore import RestoreReport, data_tables, restore_backup

__all__ = ["DERIVED", "KINDS", "Backup", "BackupError", "BackupReport", "RestoreReport", "TableSpec", "check_file",
           "data_tables", "decode_value", "encode_row", "encode_value", "open_backup", "register",
           "restore_backup", "snapshot", "whole_digest", "write_backup"]
