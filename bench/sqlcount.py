"""SQL statements per request, and their plans: each target run through Flask's test client, in-process,
against the benchmark database, with a ``before_cursor_execute`` listener on the engine.

The app is built from ``ProductionConfig`` (CSRF on), so staff sign in through the real form
exactly as over HTTP. Each target is requested twice: the first count is a cold process, the
second what a warm worker does (a per-process cache can make it smaller). A few more runs
give the median time of the request inside one process, wall and CPU: a figure much less
disturbed by other work on the machine than HTTP latency under load. Every SELECT of the
cold request is then EXPLAINed on the same database (``EXPLAIN QUERY PLAN`` on SQLite,
``EXPLAIN (FORMAT JSON)`` on PostgreSQL) and scans of the large tables are reported: a
``SCAN t`` without an index reads the whole table whatever the page shows.
"""
from __future__ import annotations

import json
import re
import statistics
import time
from dataclasses import dataclass, field

from sqlalchemy import event

from bench import PASSWORD, USER_AGENT
from bench.targets import Handles, Target, csrf_token

#: Tables that grow with the publisher; scanning one of them to draw a page does not scale.
LARGE_TABLES = {"articles", "revisions", "review_assignments", "annotations", "annotation_replies", "decisions",
                "published_versions", "published_reviews", "notifications", "audit_events", "outbox_emails"}


@dataclass
class QueryCount:
    status: int
    cold: int
    warm: int
    warm_status: int
    scans: list[str] = field(default_factory=list)
    #: Median wall and CPU milliseconds of this process per request (test client, no HTTP, no server).
    wall_ms: float | None = None
    cpu_ms: float | None = None

    @property
    def label(self) -> str:
        return str(self.warm) if self.cold == self.warm else f"{self.warm} (first {self.cold})"


def count_queries(database_url: str, targets: list[Target], handles: Handles,
                  timing_runs: int = 20) -> dict[str, QueryCount]:
    import config
    from reviewflow import create_app
    from reviewflow.extensions import db

    cfg = type("BenchCountConfig", (config.ProductionConfig,), {"SQLALCHEMY_DATABASE_URI": database_url})
    app = create_app(cfg)
    seen: list[tuple] = []

    def _record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append((statement, parameters, executemany))

    env = {"HTTP_USER_AGENT": USER_AGENT, "REMOTE_ADDR": "127.0.0.1"}
    results: dict[str, QueryCount] = {}
    with app.app_context():
        engine = db.engine
    # No app context is held around the requests: each request gets its own, as under gunicorn
    # (a shared one would share ``g``, and Flask-Login caches the signed-in user there).
    event.listen(engine, "before_cursor_execute", _record)
    plans: dict[str, list[tuple]] = {}
    try:
        clients = {}
        for role, account in (("editor", handles.editor), ("reviewer", handles.reviewer)):
            client = app.test_client()
            client.environ_base.update(env)
            page = client.get("/login")
            if page.status_code != 200:
                raise RuntimeError(f"in-process GET /login answered {page.status_code}")
            token = csrf_token(page.get_data(as_text=True))
            done = client.post("/login", data={"csrf_token": token, "email": account.email, "password": PASSWORD})
            if done.status_code not in (302, 303):
                raise RuntimeError(f"in-process log-in as {account.email} answered {done.status_code}")
            clients[role] = client
        anonymous = app.test_client()
        anonymous.environ_base.update(env)
        for t in targets:
            if t.server != "app":
                continue
            client = clients.get(t.auth, anonymous)
            headers = {"Authorization": f"Bearer {handles.editor.token}"} if t.auth == "token" else {}
            counts, statuses = [], []
            for i in range(2):
                seen.clear()
                response = client.get(t.path, headers=headers)
                response.close()
                counts.append(len(seen))
                statuses.append(response.status_code)
                if i == 0:
                    plans[t.key] = [s for s in seen if not s[2] and s[0].lstrip().upper().startswith("SELECT")]
            results[t.key] = QueryCount(statuses[0], counts[0], counts[1], statuses[1])
            walls, cpus = [], []
            started = time.perf_counter()
            for _ in range(timing_runs):
                w, c = time.perf_counter(), time.process_time()
                client.get(t.path, headers=headers).close()
                walls.append((time.perf_counter() - w) * 1000)
                cpus.append((time.process_time() - c) * 1000)
                if time.perf_counter() - started > 5:
                    break
            if walls:
                results[t.key].wall_ms = statistics.median(walls)
                results[t.key].cpu_ms = statistics.median(cpus)
    finally:
        event.remove(engine, "before_cursor_execute", _record)
    try:
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            for key, statements in plans.items():
                scans: list[str] = []
                for statement, parameters, _ in statements:
                    for scan in _scans(raw, engine.dialect.name, statement, parameters):
                        if scan not in scans:
                            scans.append(scan)
                results[key].scans = scans
    finally:
        engine.dispose()
    return results


def _scans(raw, dialect: str, statement: str, parameters) -> list[str]:
    """Scans of large tables in one statement's plan."""
    cur = raw.cursor()
    try:
        if dialect == "sqlite":
            cur.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            out = []
            for row in cur.fetchall():
                detail = row[-1]
                m = re.match(r"SCAN (?:TABLE )?(\w+)(?: AS \w+)?(.*)", detail)
                if m and m.group(1) in LARGE_TABLES:
                    how = m.group(2).strip()
                    out.append(f"{m.group(1)} ({'whole table' if not how else how.lower()})")
            return out
        cur.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
        plan = cur.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        out = []
        _walk(plan[0]["Plan"], out)
        return out
    except Exception as exc:  # a plan we cannot get is reported, not fatal
        return [f"(no plan: {type(exc).__name__})"]
    finally:
        cur.close()


def _walk(node: dict, out: list[str]) -> None:
    if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") in LARGE_TABLES:
        out.append(f"{node['Relation Name']} (seq scan, ~{node.get('Plan Rows', '?')} rows)")
    for child in node.get("Plans", []):
        _walk(child, out)
