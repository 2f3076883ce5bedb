"""Profiling one benchmark target, or ``audit verify``, in-process with cProfile.

    python -m bench.profile URL TARGET [-n 20] [--sort tottime|cumulative] [--top 30]

URL is a database built by the benchmark; TARGET is a target key (``public_article``,
``articles``, ``review_queue``, ``dashboard``, ``review_page``, ``audit_article``,
``api_article``, ``api_published``) or ``verify``. The request goes through Flask's test
client with the production configuration, signed in as the benchmark's editor or reviewer
like the load runs; three warm-up requests come first. Prints wall and CPU milliseconds per
request and the top functions, so a missed budget can be traced to its cause.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time

import bench

bench.prepare_process_env()

from bench import PASSWORD, USER_AGENT  # noqa: E402
from bench.targets import csrf_token, discover, targets_for  # noqa: E402


def _app(url: str):
    import config
    from reviewflow import create_app

    return create_app(type("BenchProfileConfig", (config.ProductionConfig,), {"SQLALCHEMY_DATABASE_URI": url}))


def profile_target(url: str, key: str, n: int, sql: bool = False) -> tuple[str, cProfile.Profile]:
    handles = discover(url)
    target = next((t for t in targets_for(handles) if t.key == key), None)
    if target is None or target.server != "app":
        raise SystemExit(f"unknown target {key!r}")
    app = _app(url)
    client = app.test_client()
    client.environ_base.update({"HTTP_USER_AGENT": USER_AGENT})
    if target.auth in ("editor", "reviewer"):
        account = handles.editor if target.auth == "editor" else handles.reviewer
        token = csrf_token(client.get("/login").get_data(as_text=True))
        client.post("/login", data={"csrf_token": token, "email": account.email, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {handles.editor.token}"} if target.auth == "token" else {}
    for _ in range(3):
        client.get(target.path, headers=headers).close()
    if sql:
        print_statements(app, lambda: client.get(target.path, headers=headers).close())
    plain = []
    for _ in range(n):  # without the profiler first: its overhead distorts the figures
        started = time.perf_counter()
        client.get(target.path, headers=headers).close()
        plain.append((time.perf_counter() - started) * 1000)
    plain.sort()
    print(f"{key}: median {plain[len(plain) // 2]:.1f} ms, slowest {plain[-1]:.1f} ms wall per request without "
          f"the profiler ({n} requests)")
    profiler = cProfile.Profile()
    wall, cpu = time.perf_counter(), time.process_time()
    profiler.enable()
    for _ in range(n):
        response = client.get(target.path, headers=headers)
        response.close()
    profiler.disable()
    wall, cpu = (time.perf_counter() - wall) * 1000 / n, (time.process_time() - cpu) * 1000 / n
    return (f"{key} {target.path}: status {response.status_code}, {wall:.1f} ms wall, {cpu:.1f} ms CPU per request "
            f"under the profiler ({n} requests)"), profiler


def print_statements(app, request) -> None:
    """Every SQL statement one (warm) request runs, with its time, in order."""
    from sqlalchemy import event

    from reviewflow.extensions import db

    with app.app_context():
        engine = db.engine
    seen: list[list] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append([statement, time.perf_counter()])

    def after(conn, cursor, statement, parameters, context, executemany):
        seen[-1][1] = (time.perf_counter() - seen[-1][1]) * 1000

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        request()
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    chars = int(os.environ.get("BENCH_SQL_CHARS", 600))
    for i, (statement, ms) in enumerate(seen, 1):
        print(f"-- {i}: {ms:.2f} ms\n{' '.join(statement.split())[:chars]}")
    print(f"-- {len(seen)} statements\n")


def profile_verify(url: str) -> tuple[str, cProfile.Profile]:
    from reviewflow.audit import services

    app = _app(url)
    with app.app_context():
        started = time.perf_counter()
        plain = services.verify(record_result=False)
        seconds = time.perf_counter() - started
        profiler = cProfile.Profile()
        profiler.enable()
        services.verify(record_result=False)
        profiler.disable()
    rate = plain.count / seconds if seconds else 0
    return (f"audit verify: ok={plain.ok}, {plain.count:,} events in {seconds:.2f} s = {rate:,.0f} events/s "
            "(without the profiler; the profile below is a second run)"), profiler


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[0])
    p.add_argument("url")
    p.add_argument("target")
    p.add_argument("-n", type=int, default=20)
    p.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"])
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--sql", action="store_true", help="first print the statements of one request, timed")
    args = p.parse_args(argv)
    if args.target == "verify":
        head, profiler = profile_verify(args.url)
    else:
        head, profiler = profile_target(args.url, args.target, args.n, args.sql)
    print(head)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
