"""``python -m bench``: build the data set, serve, load, count, verify, report. See ``bench/__init__.py``.

    python -m bench [--quick] [--db sqlite|postgres|both] [--articles N] [--events N] [--seconds S]
                    [--skip-load] [--write-seconds S] [--no-concurrency]

Full runs write ``bench/results/<date>-<db>.md`` and ``.json``; ``--quick`` runs (the CI smoke
test) write to ``bench/data/results/`` instead, so they never replace a full run's figures.
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bench

bench.prepare_process_env()  # before anything imports config.py

from bench import DATA_DIR, RESULTS_DIR, ROOT, VENV_BIN, app_env, report  # noqa: E402
from bench.dataset import Sizes, build  # noqa: E402
from bench.load import Driver, ensure_wrk  # noqa: E402
from bench.servers import PgCluster, Server, migrate, pg_unavailable_reason  # noqa: E402
from bench.sqlcount import count_queries  # noqa: E402
from bench.targets import discover, headers_for, index_pages, login, probe, targets_for  # noqa: E402

VERIFY_RE = re.compile(r"verified: (\d+) events in ([\d.]+) s \(([\d,]+) events/s, peak memory (\d+) MiB\)")
RUSAGE_WRAPPER = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "print(json.dumps({'rc': p.returncode, 'out': p.stdout, 'err': p.stderr[-3000:], "
    "'wall': time.perf_counter() - t, 'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes and short runs (under two minutes)")
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], help="default: both (sqlite with --quick)")
    p.add_argument("--articles", type=int)
    p.add_argument("--events", type=int)
    p.add_argument("--people", type=int)
    p.add_argument("--published", type=int)
    p.add_argument("--revisions", type=int)
    p.add_argument("--seconds", type=float, help="length of each load run (default 10, 2 with --quick)")
    p.add_argument("--write-seconds", type=float, help="length of the two-server write test (default 20, 5 quick)")
    p.add_argument("--skip-load", action="store_true", help="reuse the database built by an earlier run")
    p.add_argument("--no-concurrency", action="store_true", help="skip the two-server write test on PostgreSQL")
    p.add_argument("--no-install", action="store_true", help="never apt-get install wrk")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                   help="before loading, wait up to this long for the 1-minute load average to drop below 1.5")
    p.add_argument("--rounds", type=int,
                   help="after the table, this many alternations of the hello world and the random live article "
                        "(both ceilings), for ratios that other work on the machine disturbs less "
                        "(default 3; 1 with --quick)")
    p.add_argument("--seed", type=int, default=2026)
    return p.parse_args(argv)


def sizes_from(args) -> Sizes:
    sizes = Sizes.quick() if args.quick else Sizes()
    for name in ("articles", "events", "people", "published", "revisions"):
        value = getattr(args, name)
        if value is not None:
            setattr(sizes, name, value)
    sizes.published = min(sizes.published, sizes.articles)
    return sizes


def time_verify(database_url: str) -> dict:
    """``flask audit verify`` as a subprocess: its own report, wall time and peak RSS (RUSAGE_CHILDREN of a
    wrapper whose only child it is); and the same for ``flask routes``, the app's start-up alone."""
    def wrapped(args: list[str]) -> dict:
        done = subprocess.run([sys.executable, "-c", RUSAGE_WRAPPER, str(VENV_BIN / "flask"), "--app", "reviewflow",
                               *args], cwd=ROOT, env=app_env(database_url), capture_output=True, text=True,
                              timeout=3600)
        return json.loads(done.stdout.strip().splitlines()[-1])

    baseline = wrapped(["routes"])
    run = wrapped(["audit", "verify"])
    out = (run["out"] or run["err"]).strip()
    match = VERIFY_RE.search(out)
    result = {"exit": run["rc"], "ok": run["rc"] == 0, "output": out.splitlines()[0] if out else "",
              "wall_seconds": run["wall"], "peak_mib": run["maxrss_kb"] / 1024,
              "baseline_mib": baseline["maxrss_kb"] / 1024, "events": 0}
    if match:
        result.update(events=int(match.group(1)), command_seconds=float(match.group(2)),
                      rate=float(match.group(3).replace(",", "")), command_peak_mib=int(match.group(4)))
    return result


def load_phase(result: dict, handles, app: Server, hello_server: Server, driver: Driver, seconds: float,
               warmup: float, db_cpu=None) -> None:
    """Each target with 16 connections, then 1; the hello world first and last. Around the 16-connection
    run, the CPU the server processes (and the PostgreSQL cluster) used is read from /proc: CPU per
    request is a figure other work on the machine disturbs much less than requests per second."""
    base_app, base_hello = app.base, hello_server.base
    handles.index_pages = index_pages(base_app)
    log(f"  {len(handles.index_pages)} pages of /articles found by following them")
    targets = targets_for(handles)
    cookies = {"editor": login(base_app, handles.editor.email), "reviewer": login(base_app, handles.reviewer.email)}
    tokens = {"editor": handles.editor.token}
    hello = targets[0]
    order = [hello, *targets[1:], hello]
    rows: dict[str, dict] = {}
    hello_runs = []
    for t in order:
        base = base_hello if t.server == "hello" else base_app
        headers = headers_for(t, cookies, tokens)
        url = base + t.path
        first = probe(base, t, headers)
        row = rows.setdefault(t.key, {"key": t.key, "label": t.label, "path": t.path, "status": first.get("status"),
                                      "probe": first, "staff": t.staff})
        if row["status"] != 200:
            log(f"  ! {t.label}: {t.path} answers {first.get('status')} {first.get('location') or ''}")
        if t.paths and t.server != "hello":
            row["cold_c16"] = cold_then_warm(driver, base, url, headers, t.paths, seconds)
        elif warmup:
            driver.run(url, headers, 16, warmup)
        server = hello_server if t.server == "hello" else app
        cpu0, db0 = server.cpu_seconds(), db_cpu() if db_cpu else 0.0
        c16 = driver.run(url, headers, 16, seconds, t.paths).to_dict()
        if c16["requests"]:
            c16["server_cpu_ms"] = (server.cpu_seconds() - cpu0) * 1000 / c16["requests"]
            if db_cpu:
                c16["db_cpu_ms"] = (db_cpu() - db0) * 1000 / c16["requests"]
        c1 = driver.run(url, headers, 1, seconds, t.paths).to_dict()
        if t.key == "hello":
            hello_runs.append(c16["rps"])
            if "c16" in row:  # second hello run: keep the first's latencies, note both throughputs
                continue
        row["c16"], row["c1"] = c16, c1
        bad = c16["non_2xx"] + c1["non_2xx"]
        log(f"  {t.label:<34} {first.get('status')!s:>4}  {c16['rps']:8,.0f} req/s at 16  "
            f"p95 {c1['p95_ms']:6.1f} ms at 1   p95 {c16['p95_ms']:6.1f} ms at 16  non-2xx {bad}")
    result["hello_runs"] = hello_runs
    result["hello_rps"] = sum(hello_runs) / len(hello_runs)
    rows["hello"]["c16"]["rps"] = result["hello_rps"]
    result["targets"] = [rows[t.key] for t in targets]


def alternate(app: Server, hello: Server, driver: Driver, handles, seconds: float, rounds: int) -> list[dict]:
    """``rounds`` times: the hello world (no script), the random live article, the hello world asked for the
    same random paths with the same wrk script; each at 16 connections. The ratios within a round are taken
    seconds apart, so a change of load on a shared machine moves both sides of each."""
    paths = [f"/articles/{s}" for s in handles.live_slugs]
    if not paths or rounds <= 0:
        return []
    headers = {"User-Agent": bench.USER_AGENT}
    out = []
    for n in range(rounds):
        row = {"hello": driver.run(hello.base + "/", headers, 16, seconds).to_dict(),
               "random": driver.run(app.base + paths[0], headers, 16, seconds, paths).to_dict(),
               "hello_random": driver.run(hello.base + paths[0], headers, 16, seconds, paths).to_dict()}
        out.append(row)
        log(f"  round {n + 1}: hello {row['hello']['rps']:,.0f}, random article {row['random']['rps']:,.0f} "
            f"(p99 {row['random']['p99_ms']:.1f} ms), hello with the same script {row['hello_random']['rps']:,.0f} "
            f"req/s: {row['random']['rps'] / row['hello']['rps']:.2f}× and "
            f"{row['random']['rps'] / row['hello_random']['rps']:.2f}×")
    return out


def empty_store(database_url: str) -> int:
    """Forget every finished page (``finished_pages``), so that the cold figure is the first read ever."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            return conn.execute(text("DELETE FROM finished_pages")).rowcount
    finally:
        engine.dispose()


def store_builds(database_url: str) -> dict[str, int]:
    """The shared store's rows by the build that finished them (``store.build_id``)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {b: n for b, n in conn.execute(text("SELECT build, COUNT(*) FROM finished_pages GROUP BY build"))}
    finally:
        engine.dispose()


def after_restart(app: Server, hello: Server, driver: Driver, handles, seconds: float, log_dir: Path,
                  database_url: str) -> dict:
    """The app server stopped and started again, its workers' memory empty but the shared store full: the
    random live article at once (the first read after a restart), then the hello world with the same script.

    The figure holds only if the restarted server is the same build as the one that filled the store: a
    file of the app edited during the run (its templates, code or static files) makes every stored page
    another build's, so the restart renders every page again. The store's builds before and after tell."""
    paths = [f"/articles/{s}" for s in handles.live_slugs]
    if not paths:
        return {}
    before = store_builds(database_url)
    app.stop()
    app.start(log_dir, {hello.port}, "/login")
    headers = {"User-Agent": bench.USER_AGENT}
    cold = driver.run(app.base + paths[0], headers, 16, seconds, paths).to_dict()
    ceiling = driver.run(hello.base + paths[0], headers, 16, seconds, paths).to_dict()
    after = store_builds(database_url)
    same_build = len(before) == 1 and after.keys() == before.keys()
    log(f"  {'  (after a restart, store full)':<34}       {cold['rps']:8,.0f} req/s at 16  "
        f"p99 {cold['p99_ms']:6.1f} ms at 16   hello, same script: {ceiling['rps']:,.0f} req/s"
        + ("" if same_build else f"   NOT VALID: the store's builds went from {before} to {after}"))
    return {"c16": cold, "hello_random_c16": ceiling, "stored_pages": sum(before.values()),
            "same_build": same_build}


def cold_then_warm(driver: Driver, base: str, url: str, headers: dict, paths: list[str], seconds: float) -> dict:
    """Many pages after a restart: first the cold figure (every worker renders a page the first time it
    is asked for it), then every page asked for four times over 16 connections, so that each worker has
    very likely finished each one (a worker misses a page with odds of 1 in 16), before the warm figure."""
    cold = driver.run(url, headers, 16, seconds, paths).to_dict()
    log(f"  {'  (cold: right after the start)':<34}       {cold['rps']:8,.0f} req/s at 16  "
        f"p99 {cold['p99_ms']:6.1f} ms at 16")
    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda p: _fetch(base + p, headers), paths * 4))
    cold["warm_up_seconds"] = time.perf_counter() - started
    return cold


def _fetch(url: str, headers: dict) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as resp:
            resp.read()
            return resp.status
    except OSError:
        return 0


def run_db(db: str, args, sizes: Sizes, driver: Driver) -> dict:
    quick = args.quick
    seconds = args.seconds or (2.0 if quick else 10.0)
    suffix = "-quick" if quick else ""
    result: dict = {"db": db, "date": report.today(), "quick": quick, "seconds": seconds, "workers": 2,
                    "tool": driver.tool, "loadavg_before": report.loadavg(), "notes": [],
                    "command": "python -m bench " + shlex.join(sys.argv[1:]),
                    "default_size": not quick and sizes == Sizes(), "sizes": sizes.__dict__}
    cluster = None
    log_dir = DATA_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        if db == "sqlite":
            path = DATA_DIR / f"bench-sqlite{suffix}.db"
            url = f"sqlite:///{path}"
            if not args.skip_load:
                for f in DATA_DIR.glob(f"bench-sqlite{suffix}.db*"):
                    f.unlink()
        else:
            cluster = PgCluster(root=Path(f"/tmp/reviewflow-bench-pg{suffix}"))
            cluster.start(fresh=not args.skip_load)
            url = cluster.url
            result["notes"].append("Throwaway PostgreSQL cluster with fsync=off (as in CI), other settings "
                                   "default (shared_buffers 128 MB); VACUUM ANALYZE after the load.")
        log(f"\n== {db}: {url}")
        data: dict = {}
        build_file = DATA_DIR / f"build-{db}{suffix}.json"
        if not args.skip_load:
            log("  migrating (flask db upgrade)…")
            migrate(url)
            log("  building the data set…")
            built = build(url, sizes, seed=args.seed, log=log)
            data.update(build_seconds=built.seconds, events=built.events, distinct_bodies=built.distinct_bodies,
                        built_at=report.today(), sizes=sizes.__dict__)
            build_file.write_text(json.dumps(data))
            log(f"  built in {built.seconds:.0f} s")
        else:
            log("  migrating the reused data set to this code's schema…")
            migrate(url)  # a data set built by an older release gains the newer tables and columns
            if build_file.exists():
                data.update(json.loads(build_file.read_text()), reused=True)
            result["sizes"] = data.get("sizes", result["sizes"])
            result["default_size"] = not quick and Sizes(**result["sizes"]) == Sizes()
        handles = discover(url)
        data["counts"] = handles.counts
        data.setdefault("events", handles.counts.get("audit_events"))
        result["data"] = data
        result["handles"] = {"public_slug": handles.public_slug, "public_versions": handles.public_versions,
                             "audit_article_events": handles.audit_article_events,
                             "reviewer": handles.reviewer.email, "reviewer_open_reviews": handles.reviewer_open_reviews,
                             "review_article_id": handles.review_article_id, "editor": handles.editor.email}
        log("  counting SQL statements per request (in-process)…")
        counts = count_queries(url, targets_for(handles), handles)
        if args.wait_quiet:
            result["quiet_wait"] = wait_quiet(args.wait_quiet)
        result["calibration_before"] = report.calibration_ms()
        result["store_emptied"] = empty_store(url)
        log(f"  the shared store of finished pages emptied ({result['store_emptied']} rows): the cold figure is "
            "the first read ever")
        log("  serving with gunicorn and loading with " + driver.tool + "…")
        with Server("hello", "bench.hello:app", None).start(log_dir) as hello, \
                Server("app", "reviewflow:create_app()", url).start(log_dir, {hello.port}, "/login") as app:
            load_phase(result, handles, app, hello, driver, seconds, 0 if quick else 1,
                       cluster.cpu_seconds if cluster else None)
            result["gunicorn_log_tail"] = _tail(app.log_path)
            result["alternating"] = alternate(app, hello, driver, handles, seconds,
                                              args.rounds if args.rounds is not None else (1 if quick else 3))
            result["worker_rss_mib"] = app.worker_rss_mib()  # every live article finished in each worker by now
            log("  worker memory after the runs: " + ", ".join(f"{x:.0f} MiB" for x in result["worker_rss_mib"]))
            result["restart"] = after_restart(app, hello, driver, handles, seconds, log_dir, url)
        for row in result["targets"]:
            qc = counts.get(row["key"])
            if qc is not None:
                row["sql"] = qc.label
                row["scans"] = qc.scans
                row["sql_counts"] = qc.__dict__
        log("  timing flask audit verify…")
        result["verify"] = time_verify(url)
        v = result["verify"]
        log(f"  audit verify: exit {v['exit']}, {v.get('rate', 0):,.0f} events/s, peak {v['peak_mib']:.0f} MiB")
        if db == "postgres":
            if args.no_concurrency:
                result["concurrency_skipped"] = "--no-concurrency"
            else:
                from bench import concurrency
                log("  two servers, concurrent writes…")
                conc = concurrency.run(url, log_dir, args.write_seconds or (5.0 if quick else 20.0), log)
                result["concurrency"] = conc
                result["concurrency_lines"] = concurrency.summary_lines(conc)
                log("  " + result["concurrency_lines"][-1])
        if cluster:
            result["machine_pg"] = cluster.version()
    finally:
        if cluster:
            cluster.stop()
    result["loadavg_after"] = report.loadavg()
    result["calibration_after"] = report.calibration_ms()
    result["machine"] = report.machine(result.pop("machine_pg", None), driver.tool)
    result["budgets"] = report.budgets(result)
    return result


def wait_quiet(limit: float, threshold: float = 1.5) -> dict:
    """Wait (at most ``limit`` seconds) for other work on the machine to calm down."""
    started = time.monotonic()
    while True:
        one = float(report.loadavg().split()[0])
        waited = time.monotonic() - started
        if one < threshold or waited >= limit:
            log(f"  load average {report.loadavg()} after waiting {waited:.0f} s")
            return {"waited_s": waited, "loadavg": report.loadavg(), "quiet": one < threshold}
        time.sleep(min(15, max(1, limit - waited)))


def _tail(path: Path | None, lines: int = 30) -> list[str]:
    if path is None or not path.exists():
        return []
    text = path.read_text(errors="replace").splitlines()
    return [x for x in text if "Traceback" in x or "Error" in x][-lines:]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    sizes = sizes_from(args)
    dbs = {"sqlite": ["sqlite"], "postgres": ["postgres"], "both": ["sqlite", "postgres"]}[
        args.db or ("sqlite" if args.quick else "both")]
    wrk = ensure_wrk(install=not args.no_install, log=log)
    driver = Driver(wrk)
    if not wrk:
        log("  wrk is not available: using the Python load generator (figures are lower than wrk's)")
    out_dir = (DATA_DIR / "results") if args.quick else RESULTS_DIR
    failures = 0
    try:
        for db in dbs:
            if db == "postgres":
                reason = pg_unavailable_reason()
                if reason:
                    log(f"\n== postgres: skipped ({reason})")
                    continue
            result = run_db(db, args, sizes, driver)
            md, js = report.write(result, out_dir)
            print(report.markdown(result))
            log(f"  written: {md.relative_to(ROOT)} and {js.name}")
            if result.get("concurrency") and not result["concurrency"]["ok"]:
                failures += 1
    finally:
        driver.close()
    log(f"\nbenchmark finished in {time.perf_counter() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
