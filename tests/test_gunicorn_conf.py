"""gunicorn.conf.py: gunicorn finds it in the repository root, and each worker's collector is tuned once
the app is loaded (see its docstring for the measurement behind it)."""
from __future__ import annotations

import gc
import runpy
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_worker_freezes_what_the_app_made_and_waits_longer_for_full_collections():
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    before = gc.get_threshold()
    try:
        settings["post_worker_init"](worker=None)
        assert gc.get_threshold() == settings["GC_THRESHOLDS"] == (700, 10, 100)
        assert gc.get_freeze_count() > 1000  # the modules and objects alive now: out of the collector's walk
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_gunicorn_reads_it_from_the_repository_root():
    gunicorn = Path(sys.executable).with_name("gunicorn")
    done = subprocess.run([str(gunicorn), "--print-config", "reviewflow:create_app()"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    pairs = (line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    settings = {key.strip(): value.strip() for key, value in pairs}
    assert settings["config"] == "./gunicorn.conf.py", done.stdout[-500:]
