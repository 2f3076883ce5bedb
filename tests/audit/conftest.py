"""Fixtures of the audit tests: verification cut into small ranges checked by forked workers."""
from __future__ import annotations

import pytest

from reviewflow.audit import verify_parallel


@pytest.fixture
def in_ranges(monkeypatch):
    """``verify`` cut into ranges of 3 events, checked by 2 forked workers (even on a one-core machine);
    the list it returns records the ranges of every run that forked."""
    runs = []
    real = verify_parallel.first_decisive

    def spy(engine, check, ranges, workers, decisive, **kwargs):
        runs.append(ranges)
        return real(engine, check, ranges, workers, decisive, **kwargs)

    monkeypatch.setattr(verify_parallel, "SPAN", 3)
    monkeypatch.setattr(verify_parallel, "worker_count", lambda: 2)
    monkeypatch.setattr(verify_parallel, "first_decisive", spy)
    return runs
