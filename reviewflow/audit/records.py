"""The tables the pages read (decisions, published versions and their bylines), against the signed
events behind them: a row edited in place, without its event, is found by ``_records_problem``."""
from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime
from operator import attrgetter

from sqlalchemy import select

from reviewflow.audit.actions import AuditAction
from reviewflow.audit.models import AuditEvent
from reviewflow.extensions import db

#: Rows the database sends at a time while verifying: a few MiB, however long the chain.
BATCH = 5_000
#: What a check found wrong: the event to name (None when there is none) and the reason.
Problem = tuple[int | None, str]


#: decisions column -> the key of its decision.signed event's details that states it.
DECISION_FIELDS = {"decision": "decision", "reviewer_id": "reviewer_id",
                   "printed_name": "signer", "credentials": "credentials", "specialty": "specialty",
                   "license_number": "license_number", "license_expires": "license_expires", "signed_at": "signed_at",
                   "revision_number": "revision", "content_hash": "content_hash", "meaning": "meaning",
                   "checklist": "checklist"}
#: published_versions column -> the key of its article.published or article.rereviewed event's details.
VERSION_FIELDS = {"version": "version", "revision_number": "revision", "content_hash": "content_hash",
                  "published_at": "published_at", "publisher_id": "publisher_id", "publisher_name": "publisher"}
#: published_reviews column -> the key of its entry (found by ``decision_id``) in that event's ``reviewed_by``.
REVIEW_FIELDS = {"reviewer_id": "reviewer_id", "name": "name", "credentials": "credentials", "specialty": "specialty",
                 "reviewed_at": "reviewed_at"}
#: Keys that events written before bylines were signed lack entirely; those events are not compared.
DECISION_KEYS_ADDED = ("decision_id", "reviewer_id", "signed_at", "content_hash", "revision")
VERSION_KEYS_ADDED = ("revision", "content_hash", "published_at", "publisher_id", "publisher")
PUBLICATION_ACTIONS = (AuditAction.ARTICLE_PUBLISHED, AuditAction.ARTICLE_REREVIEWED)


def _records_problem(engine) -> Problem | None:
    """Every decision, published version and published review must match the signed event behind it.

    Two streamed queries, each row joined to its event by sequence number, so the cost grows with
    the rows and not with the chain. A row with no event of the right kind behind it is a mismatch;
    an event written before bylines were signed (``*_KEYS_ADDED`` all absent) is not compared.
    """
    with engine.connect() as conn:
        return _decisions_problem(conn) or _publications_problem(conn)


def _details(raw: str | None) -> dict:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _same(found, stated) -> bool:
    """Whether a table's value is what the event states: times as the same instant (the event writes
    ``isoformat``), dates as YYYY-MM-DD, a JSON list column as the list."""
    if isinstance(found, datetime):
        try:
            return isinstance(stated, str) and datetime.fromisoformat(stated) == found
        except ValueError:
            return False
    if isinstance(found, date):
        return stated == found.isoformat()
    if isinstance(stated, list) and isinstance(found, str):
        try:
            return json.loads(found) == stated
        except ValueError:
            return False
    return found == stated


def _shown(value) -> str:
    return value.isoformat() if isinstance(value, date) else json.dumps(value, ensure_ascii=False, default=str)


def _compare(table: str, row_id: int, seq: int, found: Mapping, stated: dict, fields: dict) -> Problem | None:
    """The first column of ``found`` (a ``table`` row) that is not what event ``seq`` states in ``stated``."""
    for column, key in fields.items():
        if key not in stated:
            return seq, f"{table} row {row_id}: its signed event {seq} does not state {key}"
        if not _same(found[column], stated[key]):
            return seq, (f"{table} row {row_id} does not match its signed event {seq}: {column} is "
                         f"{_shown(found[column])}, the chain says {_shown(stated[key])}")
    return None


def _decisions_problem(conn) -> Problem | None:
    """Each decision against its decision.signed event (``audit_seq``), in id order."""
    d, e = db.metadata.tables["decisions"], AuditEvent.__table__
    stmt = (select(d.c.id, d.c.audit_seq, *(d.c[name] for name in DECISION_FIELDS), e.c.action, e.c.target_type,
                   e.c.target_id, e.c.details)
            .select_from(d.outerjoin(e, e.c.seq == d.c.audit_seq)).order_by(d.c.id))
    for row in conn.execution_options(yield_per=BATCH).execute(stmt):
        if (row.action, row.target_type, row.target_id) != (AuditAction.DECISION_SIGNED, "decision", row.id):
            return row.audit_seq, (f"decisions row {row.id} has no signed event behind it: its event "
                                   + (f"{row.audit_seq} is {row.action or 'missing'}, not the signature of decision "
                                      f"{row.id}" if row.audit_seq else "is not recorded"))
        details = _details(row.details)
        if any(key in details for key in DECISION_KEYS_ADDED):
            problem = _compare("decisions", row.id, row.audit_seq, row._mapping, details, DECISION_FIELDS)
            if problem:
                return problem
    return None


def _publications_problem(conn) -> Problem | None:
    """Each published version against its publication event (``audit_seq``), with its reviews; in id order."""
    v, r = db.metadata.tables["published_versions"], db.metadata.tables["published_reviews"]
    e, s = AuditEvent.__table__.alias("publication"), AuditEvent.__table__.alias("signature")
    stmt = (select(v.c.id, v.c.article_id, v.c.audit_seq, v.c.last_reviewed_at, *(v.c[c] for c in VERSION_FIELDS),
                   e.c.action, e.c.article_id.label("event_article_id"), e.c.details, r.c.id.label("review_id"),
                   r.c.decision_id.label("review_decision_id"), r.c.decision_audit_seq,
                   *(r.c[c].label(f"review_{c}") for c in REVIEW_FIELDS),
                   s.c.action.label("signature_action"), s.c.target_id.label("signature_target_id"))
            .select_from(v.outerjoin(e, e.c.seq == v.c.audit_seq).outerjoin(r, r.c.published_version_id == v.c.id)
                         .outerjoin(s, s.c.seq == r.c.decision_audit_seq))
            .order_by(v.c.id, r.c.id))
    rows = conn.execution_options(yield_per=BATCH).execute(stmt)
    for _id, group in itertools.groupby(rows, key=attrgetter("id")):
        version, *more = group
        problem = _publication_problem(version, [row for row in (version, *more) if row.review_id is not None])
        if problem:
            return problem
    return None


def _publication_problem(v, reviews: list) -> Problem | None:
    """One published version (``v``) and its reviews against the publication event and the signatures they cite."""
    if v.action not in PUBLICATION_ACTIONS or v.event_article_id != v.article_id:
        return v.audit_seq, (f"published_versions row {v.id} has no publication event behind it: its event "
                             + (f"{v.audit_seq} is {v.action or 'missing'}, not the publication of article "
                                f"{v.article_id}" if v.audit_seq else "is not recorded"))
    for rv in reviews:  # the signature the certificate cites
        if (rv.signature_action, rv.signature_target_id) != (AuditAction.DECISION_SIGNED, rv.review_decision_id):
            return rv.decision_audit_seq, (f"published_reviews row {rv.review_id} has no signed event behind it: its "
                                           + (f"event {rv.decision_audit_seq} is not the signature of decision "
                                              f"{rv.review_decision_id}" if rv.decision_audit_seq else
                                              "event is not recorded"))
    details = _details(v.details)
    if not any(key in details for key in VERSION_KEYS_ADDED):
        return None
    problem = _compare("published_versions", v.id, v.audit_seq, v._mapping, details, VERSION_FIELDS)
    entries = details.get("reviewed_by")
    if problem or not isinstance(entries, list) or not all(isinstance(x, dict) for x in entries):
        return problem or (v.audit_seq, f"published_versions row {v.id}: its signed event {v.audit_seq} does not "
                                        "state who reviewed it")
    shown, stated = [rv.review_decision_id for rv in reviews], [x.get("decision_id") for x in entries]
    if Counter(shown) != Counter(stated):
        return v.audit_seq, (f"published_versions row {v.id} does not match its signed event {v.audit_seq}: it shows "
                             f"the reviews of decisions {_shown(sorted(shown))}, the chain says "
                             f"{_shown(sorted(stated, key=str))}")
    by_decision = {x.get("decision_id"): x for x in entries}
    for rv in reviews:
        found = {c: rv._mapping[f"review_{c}"] for c in REVIEW_FIELDS}
        problem = _compare("published_reviews", rv.review_id, v.audit_seq, found, by_decision[rv.review_decision_id],
                           REVIEW_FIELDS)
        if problem:
            return problem
    latest = max((rv.review_reviewed_at for rv in reviews), default=None)  # each just matched the chain
    if latest is not None and v.last_reviewed_at != latest:
        return v.audit_seq, (f"published_versions row {v.id} does not match its signed event {v.audit_seq}: "
                             f"last_reviewed_at is {_shown(v.last_reviewed_at)}, the chain's latest review is "
                             f"{_shown(latest)}")
    return None
