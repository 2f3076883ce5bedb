"""The `backup` and `restore` commands of ``flask``."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from reviewflow.backup.dump import write_backup
from reviewflow.backup.fileformat import BackupError
from reviewflow.backup.restore import first_line, restore_backup

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
        click.echo(f"Error: the database could not be read, no backup was written: {first_line(exc)}", err=True)
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
