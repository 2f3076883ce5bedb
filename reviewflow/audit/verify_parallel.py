"""Checking the audit chain on every core: disjoint ranges of events in forked worker processes.

One core checks some 150,000 to 200,000 events a second; the time goes into building each event's
canonical encoding and its HMAC, which ranges of the chain can do independently. A range needs
nothing from the ranges before it but the stored hash of the event just before it, which it reads
itself. So workers check ranges at the same time, and the answers are read back in chain order:
the first range that fails, or where the chain ends, decides, exactly as one pass from the start
would.

Workers are forked, not spawned, so they start in milliseconds with the application imported.
Each opens its own database connections; the parent's are never used, closed or finalized in a
child. Memory stays constant: each worker streams its range in batches and returns a small answer.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import multiprocessing.util
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from sqlalchemy.engine import Engine

#: Events in one worker task: big enough that starting a range (one query) costs nothing next to
#: checking it, small enough that the workers finish together when other work slows one core.
SPAN = 50_000
#: At most this many tasks, whatever the last sequence number claims (it may have been tampered with).
MAX_SPANS = 1_000

#: A range of sequence numbers to check: (first, last); last is None for "to the end of the table".
Span = tuple[int, int | None]


def worker_count() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def can_fork(engine: Engine) -> bool:
    """Whether checking in forked workers is possible and safe here.

    Not for an in-memory SQLite database (a child cannot see it), not on a single core, and not
    from a process running other threads: a fork copies only the calling thread, so a lock another
    thread held at that moment (logging, the connection pool) would stay locked in the child.
    """
    if engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"):
        return False
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    return worker_count() > 1 and threading.active_count() == 1


def spans(last_seq: int) -> list[Span]:
    """Cut 1..last_seq into consecutive ranges of ``SPAN`` events (more if that would make over
    ``MAX_SPANS``); the last one is open-ended, so events beyond ``last_seq`` are still read. Any cut
    gives the same answer; this one only decides how the work is shared."""
    size = max(SPAN, -(-last_seq // MAX_SPANS), 1)
    firsts = list(range(1, max(last_seq, 1) + 1, size))
    return [(first, first + size - 1) for first in firsts[:-1]] + [(firsts[-1], None)]


def first_decisive(engine: Engine, check: Callable[[Span], Any], ranges: list[Span], workers: int,
                   decisive: Callable[[Any], bool], meanwhile: Callable[[], Any] = lambda: None) -> tuple[Any, Any]:
    """Run ``check(span)`` for ``ranges`` in ``workers`` forked processes and return the first answer, in
    span order, that is ``decisive`` (a failure, or the end of the chain); the work after it is dropped.
    The last span's answer must be decisive. A worker that dies raises ``BrokenProcessPool``.
    ``meanwhile()`` runs in this process while the workers check, and its result comes back beside
    the answer: work that needs nothing from the ranges costs no time of its own.

    ``check`` reaches the children by fork, not by pickling, so it may hold the engine and the keys.
    The executor forks every worker before it starts its own thread, so no lock is copied held.
    """
    executor = ProcessPoolExecutor(min(workers, len(ranges)), mp_context=multiprocessing.get_context("fork"),
                                   initializer=_start_worker, initargs=(engine, check))
    try:
        futures = [executor.submit(_run, span) for span in ranges]
        aside = meanwhile()  # every worker is forked by now, so this process's connections are its own
        for future in futures:
            answer = future.result()
            if decisive(answer):
                return answer, aside
        raise RuntimeError("the last range's answer must be decisive")
    finally:
        executor.shutdown(wait=True, cancel_futures=True)  # ranges being checked finish; the rest are dropped


#: In a worker: the check to run, and the parent's connection pool, kept referenced so that none
#: of the parent's connections is ever closed or finalized from the child.
_worker: dict[str, Any] = {}


def _start_worker(engine: Engine, check: Callable[[Span], Any]) -> None:
    """Make a freshly forked worker independent of its parent's signals and connections."""
    # A fork copies the parent's signal handlers (gunicorn's, say, which only note a SIGTERM).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _exit_with_parent()
    _worker["inherited_pool"] = engine.pool
    engine.dispose(close=False)  # fresh connections for this process
    multiprocessing.util.Finalize(None, engine.dispose, exitpriority=10)
    _worker["check"] = check


def _exit_with_parent() -> None:
    """Leave no worker behind when the parent is killed (it would wait for work forever): a thread
    waits for the parent's sentinel, which becomes ready when the parent dies, and ends the process."""
    sentinel = multiprocessing.parent_process().sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _run(span: Span) -> Any:
    return _worker["check"](span)
