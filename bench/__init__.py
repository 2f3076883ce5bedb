"""The reviewflow benchmark: ``python -m bench`` (``make bench``, ``make bench-quick``).

It builds a publisher-sized data set with bulk inserts (``bench.dataset``), serves reviewflow
and a bare Flask hello world with gunicorn (``bench.servers``), drives both with wrk
(``bench.load``), counts SQL statements per request in-process (``bench.sqlcount``), times
``flask audit verify``, runs a two-server write test on PostgreSQL (``bench.concurrency``)
and writes a report to ``bench/results/`` (``bench.report``).

The secrets below are the benchmark's own, used only for throwaway databases; they are set in
the environment before any reviewflow module is imported, because ``config.py`` reads them at
import time.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
DATA_DIR = BENCH_DIR / "data"
RESULTS_DIR = BENCH_DIR / "results"
VENV_BIN = ROOT / ".venv" / "bin"

SECRET_KEY = "bench-secret-key-not-for-production-0001"
AUDIT_KEY = "bench-audit-key-not-for-production-0001"
#: The public site's address in the benchmark's production configuration.
PUBLIC_URL = "https://health.bench.example.org"
#: The password of every benchmark account (Argon2id with production parameters).
PASSWORD = "bench-password-2026"
#: Same User-Agent for the log-in and for wrk, so Flask-Login's session protection sees one client.
USER_AGENT = "reviewflow-bench/1"


def app_env(database_url: str) -> dict[str, str]:
    """The environment of a production reviewflow process against ``database_url``."""
    env = dict(os.environ)
    env.update({
        "REVIEWFLOW_CONFIG": "production",
        "REVIEWFLOW_SECRET_KEY": SECRET_KEY,
        "REVIEWFLOW_AUDIT_KEY": AUDIT_KEY,
        "REVIEWFLOW_INSECURE_COOKIES": "1",
        # The staff pages are measured as signed-in people see them, not the two-factor set-up page.
        "REVIEWFLOW_TWO_FACTOR_REQUIRED_ROLES": "none",
        "REVIEWFLOW_DATABASE_URL": database_url,
        # As in production: the public address is configured (finished pages are then shared whatever the Host).
        "REVIEWFLOW_PUBLIC_URL": PUBLIC_URL,
        "FLASK_APP": "reviewflow",
        "PYTHONPATH": str(ROOT),
    })
    env.pop("REVIEWFLOW_AUDIT_OLD_KEYS", None)
    return env


def prepare_process_env() -> None:
    """Make this process look like a production reviewflow process before reviewflow is imported."""
    os.environ.update({
        "REVIEWFLOW_CONFIG": "production",
        "REVIEWFLOW_SECRET_KEY": SECRET_KEY,
        "REVIEWFLOW_AUDIT_KEY": AUDIT_KEY,
        "REVIEWFLOW_INSECURE_COOKIES": "1",
        "REVIEWFLOW_TWO_FACTOR_REQUIRED_ROLES": "none",
        "REVIEWFLOW_PUBLIC_URL": PUBLIC_URL,
    })
    os.environ.pop("REVIEWFLOW_AUDIT_OLD_KEYS", None)
