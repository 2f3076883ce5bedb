"""The machine's description, the results table, the budgets, and writing ``bench/results/<date>-<db>.md/.json``."""
from __future__ import annotations

import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

#: Issue 12: a uniformly random live article, against the hello world of the same run.
RANDOM_RATIO_BUDGET = {"sqlite": 1.0, "postgres": 0.9}
PUBLIC_RATIO_BUDGET = 0.8
STAFF_P95_BUDGET_MS = 50.0
VERIFY_RATE_BUDGET = 200_000


def machine(pg_version: str | None = None, tool: str = "wrk") -> dict:
    """nproc, memory, CPU model, OS, Python, SQLite, PostgreSQL, wrk and gunicorn versions, load average."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    wrk_version = None
    if shutil.which("wrk"):
        done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
        wrk_version = (done.stdout + done.stderr).strip().splitlines()[0] if (done.stdout + done.stderr) else None
    try:
        import gunicorn
        gunicorn_version = gunicorn.__version__
    except ImportError:
        gunicorn_version = None
    try:
        import sqlalchemy
        sqlalchemy_version = sqlalchemy.__version__
    except ImportError:
        sqlalchemy_version = None
    return {
        "nproc": os.cpu_count(), "memory_gib": round(mem_kb / 1024 / 1024, 1), "cpu": cpu,
        "os": f"{platform.system()} {platform.release()}", "distro": _distro(), "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version, "postgresql": pg_version, "load_tool": tool, "wrk": wrk_version,
        "gunicorn": gunicorn_version, "sqlalchemy": sqlalchemy_version,
    }


def _distro() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return ""


def calibration_ms() -> float:
    """A fixed pure-Python loop (best of 5): compares the CPU speed available to runs on different days or
    machines; about 10 ms on a quiet current desktop core."""
    import timeit
    return round(min(timeit.repeat("sum(i * i for i in range(200000))", number=1, repeat=5)) * 1000, 1)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _ms(x) -> str:
    return "—" if x is None else (f"{x:.1f}" if x < 100 else f"{x:.0f}")


def _lat(r: dict | None) -> str:
    if not r or not r.get("requests"):
        return "—"
    return f"{_ms(r['p50_ms'])} / {_ms(r['p95_ms'])} / {_ms(r['p99_ms'])}"


def _cpu(c16: dict | None) -> str:
    if not c16 or c16.get("server_cpu_ms") is None:
        return "—"
    app = _ms(c16["server_cpu_ms"])
    return f"{app} + {_ms(c16['db_cpu_ms'])} db" if c16.get("db_cpu_ms") is not None else app


def _inproc(counts: dict | None) -> str:
    if not counts or counts.get("wall_ms") is None:
        return "—"
    return f"{_ms(counts['wall_ms'])} ({_ms(counts['cpu_ms'])})"


def table(rows: list[dict], hello_rps: float) -> list[str]:
    lines = ["| Target | Status | req/s at 16 conns | × hello | p50 / p95 / p99 ms, 1 conn | "
             "p50 / p95 / p99 ms, 16 conns | Server CPU ms/req | In-process ms (CPU) | SQL per request | "
             "Scans of large tables | non-2xx |",
             "|---|---|---:|---:|---|---|---|---|---|---|---:|"]
    for r in rows:
        c16, c1 = r.get("c16"), r.get("c1")
        rps = c16["rps"] if c16 else None
        ratio = f"{rps / hello_rps:.2f}" if rps and hello_rps else "—"
        bad = sum(x["non_2xx"] + x["socket_errors"] for x in (c16, c1) if x)
        lines.append(f"| {r['label']} (`{r['path']}`) | {r.get('status')} | "
                     f"{'—' if rps is None else f'{rps:,.0f}'} | {ratio} | {_lat(c1)} | {_lat(c16)} | "
                     f"{_cpu(c16)} | {_inproc(r.get('sql_counts'))} | "
                     f"{r.get('sql', '—')} | {'; '.join(r.get('scans') or []) or 'none'} | {bad} |")
        cold = r.get("cold_c16")
        if cold:
            cold_ratio = f"{cold['rps'] / hello_rps:.2f}" if hello_rps else "—"
            lines.append(f"| ↳ the same, cold: right after the start, before the warm-up "
                         f"({cold.get('warm_up_seconds', 0):.0f} s) | | {cold['rps']:,.0f} | {cold_ratio} | | "
                         f"{_lat(cold)} | | | | | {cold['non_2xx'] + cold['socket_errors']} |")
    return lines


def budgets(result: dict) -> list[dict]:
    """Each budget of issue 7 with the measured figure and whether it holds (None: not applicable here)."""
    out = []
    rows = {r["key"]: r for r in result["targets"]}
    hello = result.get("hello_rps") or 0
    pub = rows.get("public_article", {}).get("c16")
    if pub and hello:
        ratio = pub["rps"] / hello
        hello_cpu = (rows.get("hello", {}).get("c16") or {}).get("server_cpu_ms")
        by_cpu = ""
        if hello_cpu and pub.get("server_cpu_ms"):
            page_cpu = pub["server_cpu_ms"] + pub.get("db_cpu_ms", 0)
            by_cpu = f"; by server CPU per request {hello_cpu / page_cpu:.2f}× ({page_cpu:.2f} vs {hello_cpu:.2f} ms)"
        out.append({"budget": f"Public article page ≥ {PUBLIC_RATIO_BUDGET}× hello world (16 conns)",
                    "measured": f"{ratio:.2f}× ({pub['rps']:,.0f} vs {hello:,.0f} req/s){by_cpu}",
                    "ok": ratio >= PUBLIC_RATIO_BUDGET and rows["public_article"].get("status") == 200})
    rnd = rows.get("public_random", {}).get("c16")
    if rnd and hello:
        ratio = rnd["rps"] / hello
        goal = RANDOM_RATIO_BUDGET[result["db"]]
        out.append({"budget": f"Random live article ≥ {goal}× hello world, p99 < 10 ms (16 conns)",
                    "measured": f"{ratio:.2f}× ({rnd['rps']:,.0f} vs {hello:,.0f} req/s), p99 {rnd['p99_ms']:.1f} ms",
                    "ok": ratio >= goal and rnd["p99_ms"] < 10 and rows["public_random"].get("status") == 200})
        same = rows.get("hello_random", {}).get("c16")
        if same and same.get("rps"):
            fair = rnd["rps"] / same["rps"]
            out.append({"budget": f"Random live article ≥ {goal}× hello world asked for the same random paths with "
                                  "the same wrk script (the load generator's own work alike)",
                        "measured": f"{fair:.2f}× ({rnd['rps']:,.0f} vs {same['rps']:,.0f} req/s)",
                        "ok": fair >= goal and rows["public_random"].get("status") == 200})
        cold = rows.get("public_random", {}).get("cold_c16")
        if cold:
            out.append({"budget": "Random live article, first read ever (shared store empty, right after the start): "
                                  "not a cliff (shown)",
                        "measured": f"{cold['rps'] / hello:.2f}× ({cold['rps']:,.0f} req/s), "
                                    f"p99 {cold['p99_ms']:.1f} ms; warm-up of every page four times: "
                                    f"{cold.get('warm_up_seconds', 0):.0f} s",
                        "ok": None})
    rounds = result.get("alternating") or []
    if rounds:
        goal = RANDOM_RATIO_BUDGET[result["db"]]
        plain = sorted(r["random"]["rps"] / r["hello"]["rps"] for r in rounds if r["hello"]["rps"])
        fair = sorted(r["random"]["rps"] / r["hello_random"]["rps"] for r in rounds if r["hello_random"]["rps"])
        p99 = sorted(r["random"]["p99_ms"] for r in rounds)
        median = lambda xs: xs[len(xs) // 2] if xs else 0.0  # noqa: E731
        out.append({"budget": f"Random live article ≥ {goal}× hello world, median of {len(rounds)} alternations "
                              "(hello, article, hello with the same script, each 16 conns)",
                    "measured": f"{median(plain):.2f}× hello (rounds: {', '.join(f'{x:.2f}' for x in plain)}); "
                                f"{median(fair):.2f}× hello with the same script (rounds: "
                                f"{', '.join(f'{x:.2f}' for x in fair)}); p99 median {median(p99):.1f} ms",
                    "ok": median(plain) >= goal and median(fair) >= goal and median(p99) < 10})
    restart = (result.get("restart") or {}).get("c16")
    if restart and hello:
        same = (result.get("restart") or {}).get("hello_random_c16") or {}
        out.append({"budget": "Random live article, first read after a restart (workers' memory empty, shared "
                              "store full): not a cliff (shown)",
                    "measured": f"{restart['rps'] / hello:.2f}× hello ({restart['rps']:,.0f} req/s), p99 "
                                f"{restart['p99_ms']:.1f} ms"
                                + (f"; {restart['rps'] / same['rps']:.2f}× hello with the same script"
                                   if same.get("rps") else "")
                                + (f"; {result['restart']['stored_pages']:,} pages in the store"
                                   if "stored_pages" in result["restart"] else "")
                                + ("" if result["restart"].get("same_build", True) else
                                   "; NOT VALID: the app's files changed during the run, so the restarted "
                                   "server is another build and ignored every stored page"),
                        "ok": None if result["restart"].get("same_build", True) else False})
    rss = result.get("worker_rss_mib")
    if rss:
        out.append({"budget": "Memory per worker, every live article finished in it (bounded by "
                              "PUBLIC_CACHE_ENTRIES and PUBLIC_CACHE_MAX_BYTES; shown)",
                    "measured": ", ".join(f"{x:.0f} MiB" for x in rss) + " resident after the runs", "ok": None})
    index = rows.get("articles_random", {}).get("c16")
    if index and hello:
        same = rows.get("hello_random", {}).get("c16") or {}
        out.append({"budget": "Random page of the article list /articles?before=… (shown)",
                    "measured": f"{index['rps'] / hello:.2f}× hello ({index['rps']:,.0f} req/s), p99 "
                                f"{index['p99_ms']:.1f} ms"
                                + (f"; {index['rps'] / same['rps']:.2f}× hello with the same kind of script"
                                   if same.get("rps") else ""),
                    "ok": None})
    default_size = result.get("default_size", False)
    for key in ("review_queue", "dashboard", "review_page", "audit_article"):
        r = rows.get(key)
        if not r or not r.get("c1"):
            continue
        done = r["c1"]["requests"]
        p95 = r["c1"]["p95_ms"] if done else float("inf")
        applies = default_size and result["db"] == "sqlite"
        out.append({"budget": f"{r['label']}: p95 < {STAFF_P95_BUDGET_MS:.0f} ms, one client"
                              + ("" if applies else " (budget is for SQLite at default size: shown only)"),
                    "measured": (f"{p95:.1f} ms" if done else f"no request finished in {result['seconds']} s")
                                + f" (status {r.get('status')})",
                    "ok": (p95 < STAFF_P95_BUDGET_MS and r.get("status") == 200) if applies else None})
    v = result.get("verify")
    if v and v.get("rate"):
        out.append({"budget": f"audit verify ≥ {VERIFY_RATE_BUDGET:,} events/s in constant memory",
                    "measured": f"{v['rate']:,.0f} events/s over {v['events']:,} events, peak RSS "
                                f"{v['peak_mib']:.0f} MiB (process baseline {v.get('baseline_mib', 0):.0f} MiB)",
                    "ok": v["rate"] >= VERIFY_RATE_BUDGET and v.get("ok", False)})
    return out


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [f"# reviewflow benchmark: {result['db']}, {result['date']}", ""]
    lines.append(f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB RAM, {m['distro']} "
                 f"({m['os']}); Python {m['python']}, SQLite {m['sqlite']}"
                 + (f", PostgreSQL {m['postgresql']}" if m.get("postgresql") else "")
                 + f", gunicorn {m['gunicorn']}, SQLAlchemy {m['sqlalchemy']}; load generator: "
                 + (m["wrk"] or m["load_tool"]) + ".")
    lines.append(f"Load average before / after the run: {result['loadavg_before']} / {result['loadavg_after']} "
                 "(the server, wrk and anything else on the machine share these CPUs). CPU calibration "
                 f"(a fixed Python loop, lower is faster): {result.get('calibration_before')} ms before, "
                 f"{result.get('calibration_after')} ms after.")
    if result.get("quiet_wait"):
        q = result["quiet_wait"]
        lines.append(f"Waited {q['waited_s']:.0f} s for a quiet machine before loading (load average then "
                     f"{q['loadavg']}{'' if q['quiet'] else ', still busy: figures are disturbed'}).")
    lines.append("")
    d = result["data"]
    lines.append("## Data set")
    lines.append("")
    counts = d.get("counts", {})
    lines.append(", ".join(f"{k.replace('_', ' ')}: {v:,}" for k, v in counts.items()) + ".")
    if d.get("build_seconds") is not None:
        lines.append(f"Built in {d['build_seconds']:.0f} s with bulk inserts (migrations first, so the triggers "
                     f"guard the load); the audit chain held {d.get('events', 0):,} events."
                     + (f" Reused here (`--skip-load`) from the build of {d.get('built_at')}, with the rows "
                        "earlier runs added (log-ins, verifications, the two-server writes)." if d.get("reused")
                        else ""))
    else:
        lines.append("Reused from an earlier build (`--skip-load`).")
    h = result["handles"]
    lines.append(f"Subjects: public article `{h['public_slug']}` ({h['public_versions']} published versions, "
                 f"{h['audit_article_events']} audit events); reviewer {h['reviewer']} with "
                 f"{h['reviewer_open_reviews']} open reviews; review page of article {h['review_article_id']}; "
                 f"editor {h['editor']}.")
    lines.append("")
    lines.append("## Throughput and latency")
    lines.append("")
    lines.append(f"gunicorn, {result['workers']} sync workers, production configuration, one server on "
                 f"127.0.0.1; {result['tool']} for {result['seconds']} s per run, `-t2 -c16` and `-t1 -c1`. "
                 f"Hello world ceiling: {result['hello_rps']:,.0f} req/s (runs before and after the app: "
                 + " and ".join(f"{x:,.0f}" for x in result.get("hello_runs", [])) + "). "
                 "Server CPU ms/req: CPU used by the gunicorn master and workers (and, on PostgreSQL, the "
                 "cluster's processes: “db”) during the 16-connection run, per request; other work on the "
                 "machine disturbs it much less than req/s. "
                 "In-process ms: median time of the request through the test client inside one process (no HTTP, no "
                 "queueing), wall and CPU; on SQLite the database work is in that CPU time, on PostgreSQL it is "
                 "not. SQL per request: counted the same way; “first” is a cold process. "
                 "Scans: every SELECT of the request EXPLAINed; “whole table” is a full scan, “using index” "
                 "walks an index (cheap when a LIMIT stops it early). "
                 "non-2xx counts answers ≥ 400 and socket errors during the runs (status shows one probe).")
    lines.append("")
    lines += table(result["targets"], result["hello_rps"])
    lines.append("")
    v = result.get("verify")
    if v:
        lines.append("## Audit verify")
        lines.append("")
        lines.append(f"`flask audit verify` as a subprocess: exit {v['exit']}, {v['events']:,} events; "
                     f"{v.get('command_seconds', 0):.2f} s inside the command ({v.get('rate', 0):,.0f} events/s), "
                     f"{v['wall_seconds']:.2f} s wall including start-up; peak RSS {v['peak_mib']:.0f} MiB "
                     f"(same process doing nothing but start: {v.get('baseline_mib', 0):.0f} MiB).")
        lines.append(f"Output: “{v['output']}”")
        lines.append("")
    lines.append("## Budgets")
    lines.append("")
    lines.append("| Budget | Measured | Holds |")
    lines.append("|---|---|---|")
    for b in result["budgets"]:
        verdict = "yes" if b["ok"] else ("—" if b["ok"] is None else "**no**")
        lines.append(f"| {b['budget']} | {b['measured']} | {verdict} |")
    lines.append("")
    if result.get("concurrency_lines"):
        lines.append("## Two servers, one database: concurrent writes")
        lines.append("")
        lines += result["concurrency_lines"]
        lines.append("")
    elif result.get("concurrency_skipped"):
        lines.append(f"Two-server write test: skipped ({result['concurrency_skipped']}).")
        lines.append("")
    if result.get("notes"):
        lines.append("## Notes")
        lines.append("")
        lines += [f"- {n}" for n in result["notes"]]
        lines.append("")
    lines.append(f"Command: `{result['command']}`")
    return "\n".join(lines) + "\n"


def write(result: dict, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{result['date']}-{result['db']}"
    md, js = directory / f"{stem}.md", directory / f"{stem}.json"
    md.write_text(markdown(result))
    js.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return md, js


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")
