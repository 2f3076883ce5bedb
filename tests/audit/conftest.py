"""Fixtures of the audit tests: verification cut into small ranges checked by forked workers."""
from __future__ import annotations

import pytest

from reviewflow.audit import verify_parallel


@pytest.fixture
def in_ranges(request, monkeypatch):
    """``verify`` cut into ranges of 3 events, checked by 2 forked workers (even on a one-core machine);
    the list it returns records the ranges of every run that forked. Only in a ``real_commits`` test:
    the workers would otherwise inherit the test's one connection, and hang on it."""
    if not request.node.get_closest_marker("real_commits"):
        pytest.fail("in_ranges forks workers that read the chain on connections of their own: mark the test "
                    "@pytest.mark.real_commits", pytrace=False)
    runs = []
    real = verify_parallel.first_decisive

    def spy(engine, check, ranges, workers, decisive, **kwargs):
        runs.append(ranges)
        return real(engine, check, ranges, workers, decisive, **kwargs)

    monkeypatch.setattr(verify_parallel, "SPAN", 3)
    monkeypatch.setattr(verify_parallel, "worker_count", lambda: 2)
    monkeypatch.setattr(verify_parallel, "first_decisive", spy)
    return runs
