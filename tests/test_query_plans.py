"""No page of the audit log or the dashboards scans a whole large table: every SELECT they run is
EXPLAINed on the database under test and its plan must reach the large tables through an index.

On SQLite, ``EXPLAIN QUERY PLAN`` says ``SCAN t`` for a full table read and ``SEARCH t USING
INDEX`` (or ``SCAN t USING [COVERING] INDEX``, an ordered walk that a LIMIT stops) otherwise. On
PostgreSQL the planner prefers a sequential scan of a small test table whatever indexes exist,
so the plans are taken with ``enable_seqscan = off``: a ``Seq Scan`` that remains means no index
fits the query's filter, which is what would hurt at a publisher's size.
"""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import event

from reviewflow.extensions import db as _db
from tests.factories import make_article

#: The plans are read on a raw connection that ends its transaction with a rollback: real commits.
pytestmark = pytest.mark.real_commits

#: Tables that grow with the publisher (users and roles stay in the hundreds).
LARGE = {"articles", "revisions", "review_assignments", "annotations", "annotation_replies", "decisions",
         "published_versions", "published_reviews", "notifications", "audit_events", "outbox_emails"}


def _sqlite_full_scans(cursor, statement: str, parameters) -> list[str]:
    cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
    found = []
    for row in cursor.fetchall():
        m = re.match(r"SCAN (?:TABLE )?(\w+)(?: AS \w+)?(.*)", row[-1])
        if m and m.group(1) in LARGE and "INDEX" not in m.group(2).upper():
            found.append(row[-1])
    return found


def _pg_full_scans(cursor, statement: str, parameters) -> list[str]:
    cursor.execute("SET LOCAL enable_seqscan = off")
    cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
    plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    found: list[str] = []

    def walk(node: dict) -> None:
        if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") in LARGE:
            found.append(f"Seq Scan on {node['Relation Name']} (filter: {node.get('Filter', 'none')})")
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


def full_scans_of(client, path: str) -> tuple[int, list[tuple[str, list[str]]]]:
    """Request ``path``; return its status and every SELECT that reads a large table in full."""
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not executemany and statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    engine = _db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert seen, f"{path} ran no SELECT: the listener saw nothing"
    bad = []
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        cursor = raw.cursor()
        try:
            check = _pg_full_scans if engine.dialect.name == "postgresql" else _sqlite_full_scans
            for statement, parameters in seen:
                scans = check(cursor, statement, parameters)
                if scans:
                    bad.append((" ".join(statement.split())[:300], scans))
        finally:
            cursor.close()
            raw.rollback()
    return response.status_code, bad


@pytest.fixture
def desk(cast):
    """Articles in every state of the desk, with their audit events."""
    made = [make_article(cast["writer"], "draft", title="A draft"),
            make_article(cast["writer"], "submitted", title="Waiting"),
            make_article(cast["writer2"], "in_review", reviewer=cast["rev"], editor=cast["editor"],
                         title="Being reviewed"),
            make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"],
                         title="Ready to publish"),
            make_article(cast["writer2"], "published", reviewer=cast["rev2"], editor=cast["editor"],
                         title="Already live")]
    return {a.title: a for a in made}


PAGES = [
    ("editor", "/dashboard"),
    ("writer", "/dashboard"),
    ("rev", "/dashboard"),
    ("rev", "/reviews"),
    ("writer", "/work/articles"),
    ("rev", "/work/articles"),
    ("editor", "/work/articles"),
    ("editor", "/work/articles?state=in_review"),
    ("editor", "/work/articles?before=a4102444800000000.100000"),  # a later page: rows older than a cursor
    ("editor", "/work/articles?after=a1.1"),  # an earlier page
    ("writer", "/notifications?before=n100000"),
    ("rev", "/reviews?after=q1.1"),
    ("editor", "/audit"),
    ("editor", "/audit?article={live}"),
    ("editor", "/audit?action=article.published"),
    ("editor", "/audit?person=Wren"),
    ("editor", "/audit?from=2020-01-01&to=2099-12-31"),
    ("editor", "/audit?before=3"),
    ("editor", "/work/articles/{live}/audit"),
    ("writer", "/notifications"),
]


@pytest.mark.parametrize("role,path", PAGES, ids=[f"{r}:{p}" for r, p in PAGES])
def test_no_full_scan_of_a_large_table(app, client, login, cast, desk, role, path):
    login(cast[role])
    status, bad = full_scans_of(client, path.format(live=desk["Already live"].id))
    assert status == 200, path
    assert not bad, "\n".join(f"{s}\n  -> {', '.join(scans)}" for s, scans in bad)


def test_the_check_catches_a_full_scan(app, client, login, cast, desk):
    """The plan check itself: a title search (LIKE '%…%') cannot use an index and must be reported."""
    login(cast["editor"])
    status, bad = full_scans_of(client, "/work/articles?q=review")
    assert status == 200
    assert any("articles" in " ".join(scans) for _, scans in bad), bad
