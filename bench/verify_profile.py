"""Why ``audit verify`` is slow, and how fast the same check can be: ``python -m bench.verify_profile URL``.

1. Profiles the application's ``reviewflow.audit.services.verify`` (cProfile, top functions by own
   time) on the database at URL.
2. Runs a streamlined check of exactly the same chain rules (sequence without gaps, known key,
   ``prev_hash`` equal to the previous ``hash``, ``hash`` equal to the HMAC of the canonical
   encoding) and prints its rate, so a fix can be judged before it is made. It reuses the
   application's ``key_id_of``, and every HMAC must match the stored hash, which proves the encoding is
   the application's byte for byte. The differences are only in how the work is done:
   - rows come from the DBAPI cursor as plain tuples, in the order the encoding needs them;
   - the timestamp is formatted by the database (SQLite already stores the ISO text; PostgreSQL
     formats it with ``to_char`` in UTC) instead of ``datetime.strftime`` per row;
   - one pre-built ``json.JSONEncoder`` instead of ``json.dumps(..., separators=...)``, which
     builds a new encoder on every call;
   - the one-shot C ``hmac.digest`` instead of ``hmac.new(...).hexdigest()``;
   - optionally ``--processes N``: the chain is cut into N seq ranges checked in parallel (each
     link only needs its own row and the stored ``prev_hash``; the joints are checked after).
This module is a measuring tool; it changes nothing in the database.
"""
from __future__ import annotations

import argparse
import cProfile
import hmac
import io
import json
import pstats
import sys
import time
from multiprocessing import get_context

import bench

bench.prepare_process_env()

from sqlalchemy import create_engine  # noqa: E402

from bench import AUDIT_KEY  # noqa: E402

ORDER = ("seq", "occurred_at", "actor_id", "actor_name", "actor_role", "action", "target_type", "target_id",
         "target_label", "article_id", "revision_number", "content_hash", "before_state", "after_state", "details",
         "request_id", "key_id")
GENESIS = "0" * 64


def _select(dialect: str) -> str:
    if dialect == "postgresql":
        ts = "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        cols = ", ".join(ts if c == "occurred_at" else c for c in ORDER)
        return (f"SELECT {cols}, prev_hash, hash FROM audit_events WHERE seq > %(last)s AND seq <= %(stop)s "
                f"ORDER BY seq LIMIT %(n)s")
    cols = ", ".join(ORDER)
    return f"SELECT {cols}, prev_hash, hash FROM audit_events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"


def _keys() -> dict[str, bytes]:
    from reviewflow.audit.services import key_id_of
    return {key_id_of(AUDIT_KEY): AUDIT_KEY.encode()}


def check_range(url: str, start: int, stop: int, batch: int = 10_000) -> dict:
    """Check events with start < seq <= stop; returns count, first/last hashes and the first problem."""
    engine = create_engine(url)
    dialect = engine.dialect.name
    keys = _keys()
    encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode
    digest, same = hmac.digest, hmac.compare_digest
    sql = _select(dialect)
    expected, prev, first_prev, count, problem = start + 1, None, None, 0, None
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        cur = raw.cursor()
        last = start
        while problem is None:
            params = {"last": last, "stop": stop, "n": batch} if dialect == "postgresql" else (last, stop, batch)
            cur.execute(sql, params)
            rows = cur.fetchall()
            if not rows:
                break
            for row in rows:
                seq = row[0]
                if seq != expected:
                    problem = (expected, f"event {expected} is missing or out of order")
                    break
                ts = row[1]
                if dialect != "postgresql":
                    ts = ts[:10] + "T" + ts[11:] + "Z" if len(ts) == 26 else _iso_slow(ts)
                values = list(row[:17])
                values[1] = ts
                key = keys.get(row[16])
                if key is None:
                    problem = (seq, f"event {seq} is signed with an unknown key")
                    break
                if prev is None:
                    first_prev = row[17]
                elif row[17] != prev:
                    problem = (seq, f"event {seq} does not follow event {seq - 1}")
                    break
                mac = digest(key, row[17].encode() + b"\n" + encode(values).encode(), "sha256").hex()
                if not same(mac, row[18]):
                    problem = (seq, f"event {seq} was edited")
                    break
                prev = row[18]
                expected += 1
                count += 1
            last = rows[-1][0]
        cur.close()
    engine.dispose()
    return {"start": start, "stop": stop, "count": count, "first_prev": first_prev, "last_hash": prev,
            "problem": problem}


def _iso_slow(value: str) -> str:
    from datetime import UTC, datetime
    dt = datetime.fromisoformat(value)
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fast_verify(url: str, processes: int = 1) -> dict:
    engine = create_engine(url)
    with engine.connect() as conn:
        from sqlalchemy import text
        head_seq, head_hash = conn.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
        total = conn.execute(text("SELECT MAX(seq) FROM audit_events")).scalar() or 0
    engine.dispose()
    started = time.perf_counter()
    bounds = [round(total * i / processes) for i in range(processes + 1)]
    ranges = [(url, bounds[i], bounds[i + 1]) for i in range(processes)]
    if processes == 1:
        parts = [check_range(*ranges[0])]
    else:
        with get_context("fork").Pool(processes) as pool:
            parts = pool.starmap(check_range, ranges)
    ok, count, problem, prev = True, 0, None, GENESIS
    for part in parts:
        count += part["count"]
        if part["problem"]:
            ok, problem = False, part["problem"]
            break
        if part["count"] and part["first_prev"] != prev:
            ok, problem = False, (part["start"] + 1, "joint between ranges does not match")
            break
        prev = part["last_hash"] or prev
    if ok and (head_seq != count or head_hash != prev):
        ok, problem = False, (count, "the chain head does not match the last event")
    return {"ok": ok, "count": count, "seconds": time.perf_counter() - started, "problem": problem}


def profile_app_verify(url: str, top: int = 15) -> tuple[dict, str]:
    import config
    from reviewflow import create_app
    from reviewflow.audit import services

    app = create_app(type("BenchVerifyConfig", (config.ProductionConfig,), {"SQLALCHEMY_DATABASE_URI": url}))
    with app.app_context():
        started = time.perf_counter()
        plain = services.verify(record_result=False)
        plain_seconds = time.perf_counter() - started
        profiler = cProfile.Profile()
        profiler.enable()
        services.verify(record_result=False)
        profiler.disable()
        from reviewflow.extensions import db
        db.session.remove()
        db.engine.dispose()
    buf = io.StringIO()
    pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(top)
    return {"ok": plain.ok, "count": plain.count, "seconds": plain_seconds}, buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.verify_profile")
    p.add_argument("url", help="SQLAlchemy URL of a database built by the benchmark")
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--no-profile", action="store_true")
    args = p.parse_args(argv)
    if not args.no_profile:
        app_result, profile = profile_app_verify(args.url)
        rate = app_result["count"] / app_result["seconds"]
        print(f"application verify: ok={app_result['ok']} {app_result['count']:,} events in "
              f"{app_result['seconds']:.2f} s = {rate:,.0f} events/s")
        print("cProfile of a second run (own time):")
        print("\n".join(profile.splitlines()[:40]))
    for n in sorted({1, args.processes}):
        r = fast_verify(args.url, n)
        print(f"streamlined check, {n} process(es): ok={r['ok']} {r['count']:,} events in {r['seconds']:.2f} s "
              f"= {r['count'] / r['seconds']:,.0f} events/s {r['problem'] or ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
