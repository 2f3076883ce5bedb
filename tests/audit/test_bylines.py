"""Bylines and decisions are provable from the chain: `audit verify` compares the tables the pages
read with the signed events behind them, and names the first row that no longer matches.

The first tests state the contract between the services and the chain (what a decision.signed
and a publication event carry). The attacker then edits the tables with SQL, as someone with
database access but without the audit key would, and verification must name what changed.
"""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import insert, select, update

from reviewflow.audit import services as audit
from reviewflow.audit.models import AuditEvent
from reviewflow.extensions import db
from reviewflow.publishing.models import PublishedReview, PublishedVersion
from reviewflow.reviews.models import Decision
from tests.factories import CHECKLIST, PASSWORD, make_article

DECISION_KEYS = {"decision_id", "decision", "reviewer_id", "signer", "credentials", "specialty", "license_number",
                 "license_expires", "profile_version", "meaning", "signed_at", "content_hash", "revision",
                 "checklist", "comment"}
PUBLICATION_KEYS = {"version", "revision", "content_hash", "published_at", "publisher_id", "publisher",
                    "reviewed_by"}
REVIEWED_BY_KEYS = {"decision_id", "reviewer_id", "name", "credentials", "specialty", "reviewed_at"}


@pytest.fixture
def signed(db, cast, api):
    """A published article (version 1 by an editor, version 2 a re-review of the same text by its first
    reviewer and a second one) and another article whose reviewer requested changes: every kind of row
    the check compares."""
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    response = api(cast["editor"], "POST", f"/articles/{article.id}/assignments", json={"reviewer_id": cast["rev2"].id})
    assert response.status_code == 201, response.json
    for reviewer in (cast["rev"], cast["rev2"]):
        response = api(reviewer, "POST", f"/articles/{article.id}/decisions",
                       json={"revision": 1, "decision": "approve", "password": PASSWORD, "checklist": CHECKLIST})
        assert response.status_code == 201, response.json
    make_article(cast["writer"], "changes_requested", reviewer=cast["rev"], editor=cast["editor"],
                 title="Sunburn in children")
    db.session.expire_all()
    versions = list(db.session.scalars(select(PublishedVersion).order_by(PublishedVersion.id)))
    assert [(v.version, v.kind) for v in versions] == [(1, "publish"), (2, "rereview")]
    return {"article": article, "versions": versions,
            "decisions": list(db.session.scalars(select(Decision).order_by(Decision.id))),
            "reviews": list(db.session.scalars(select(PublishedReview).order_by(PublishedReview.id)))}


def event(seq: int) -> AuditEvent:
    return db.session.scalar(select(AuditEvent).where(AuditEvent.seq == seq))


def tamper(table: str, row_id: int, **values) -> None:
    """Change a row with SQL, as the attacker would (the tables the pages read have no guard)."""
    t = db.metadata.tables[table]
    db.session.commit()
    with db.engine.begin() as conn:
        conn.execute(update(t).where(t.c.id == row_id).values(**values))
    db.session.expire_all()


def failure() -> audit.VerifyResult:
    result = audit.verify(record_result=False)
    assert not result.ok, "verify passed"
    return result


# The contract ---------------------------------------------------------------------------------------

def test_a_decision_signed_event_states_what_the_decision_row_shows(signed):
    for d in signed["decisions"]:
        ev = event(d.audit_seq)
        assert (ev.action, ev.target_type, ev.target_id) == ("decision.signed", "decision", d.id)
        assert (ev.revision_number, ev.content_hash) == (d.revision_number, d.content_hash)
        details = json.loads(ev.details)
        assert set(details) >= DECISION_KEYS
        assert details == details | {
            "decision_id": d.id, "decision": d.decision, "reviewer_id": d.reviewer_id, "signer": d.printed_name,
            "credentials": d.credentials, "specialty": d.specialty, "license_number": d.license_number,
            "license_expires": d.license_expires.isoformat(), "meaning": d.meaning,
            "signed_at": d.signed_at.isoformat(), "content_hash": d.content_hash, "revision": d.revision_number,
            "checklist": json.loads(d.checklist)}


def test_a_publication_event_states_what_the_byline_shows(signed):
    for v in signed["versions"]:
        ev = event(v.audit_seq)
        assert ev.action == ("article.published" if v.kind == "publish" else "article.rereviewed")
        details = json.loads(ev.details)
        assert set(details) >= PUBLICATION_KEYS
        assert details == details | {
            "version": v.version, "revision": v.revision_number, "content_hash": v.content_hash,
            "published_at": v.published_at.isoformat(), "publisher_id": v.publisher_id,
            "publisher": v.publisher_name}
        rows = [r for r in signed["reviews"] if r.published_version_id == v.id]
        assert [set(x) for x in details["reviewed_by"]] == [REVIEWED_BY_KEYS] * len(rows)
        assert sorted(details["reviewed_by"], key=lambda x: x["decision_id"]) == [
            {"decision_id": r.decision_id, "reviewer_id": r.reviewer_id, "name": r.name,
             "credentials": r.credentials, "specialty": r.specialty, "reviewed_at": r.reviewed_at.isoformat()}
            for r in sorted(rows, key=lambda r: r.decision_id)]
        for r in rows:
            assert r.decision_audit_seq == db.session.get(Decision, r.decision_id).audit_seq


def test_honest_tables_verify(signed):
    result = audit.verify(record_result=False)
    assert result.ok, result.reason


# Rows that no longer match their event ----------------------------------------------------------------

def test_a_byline_rewritten_in_both_tables_is_named(signed, cast):
    """The name on the public page comes from published_reviews, and the certificate's from decisions:
    the attacker changes both, and the first row compared is named, with what the chain says."""
    d = signed["decisions"][0]
    tamper("decisions", d.id, printed_name="Mallory Forge")
    for r in signed["reviews"]:
        if r.decision_id == d.id:
            tamper("published_reviews", r.id, name="Mallory Forge")
    result = failure()
    assert result.first_bad_seq == d.audit_seq
    assert result.reason == (f"decisions row {d.id} does not match its signed event {d.audit_seq}: printed_name is "
                             '"Mallory Forge", the chain says "Dana Okafor"')


#: column -> a different value for the decision the article's first reviewer signed (an approval).
DECISION_CHANGES = {
    "decision": lambda d, c: "request_changes",
    "reviewer_id": lambda d, c: c["rev2"].id,
    "printed_name": lambda d, c: "Mallory Forge",
    "credentials": lambda d, c: "M.D., Ph.D., FAAD",
    "specialty": lambda d, c: "Cardiology",
    "license_number": lambda d, c: "LIC-FORGED",
    "license_expires": lambda d, c: d.license_expires + timedelta(days=365),
    "signed_at": lambda d, c: d.signed_at + timedelta(microseconds=1),
    "revision_number": lambda d, c: d.revision_number + 1,
    "content_hash": lambda d, c: "f" * 64,
    "meaning": lambda d, c: "I wrote it.",
    "checklist": lambda d, c: json.dumps(["Checked by nobody"]),
}


@pytest.mark.parametrize("column", list(DECISION_CHANGES))
def test_each_decision_column_is_checked(signed, cast, column):
    d = signed["decisions"][0]
    tamper("decisions", d.id, **{column: DECISION_CHANGES[column](d, cast)})
    result = failure()
    assert result.first_bad_seq == d.audit_seq
    assert result.reason.startswith(f"decisions row {d.id} does not match its signed event {d.audit_seq}: "
                                    f"{column} is "), result.reason


VERSION_CHANGES = {
    "version": lambda v, c: 7,
    "revision_number": lambda v, c: 2,
    "content_hash": lambda v, c: "f" * 64,
    "published_at": lambda v, c: v.published_at - timedelta(microseconds=1),
    "publisher_id": lambda v, c: c["admin"].id,
    "publisher_name": lambda v, c: "Mallory Forge",
    "last_reviewed_at": lambda v, c: v.last_reviewed_at + timedelta(days=1),
}


@pytest.mark.parametrize("column", list(VERSION_CHANGES))
def test_each_published_version_column_is_checked(signed, cast, column):
    v = signed["versions"][0]
    tamper("published_versions", v.id, **{column: VERSION_CHANGES[column](v, cast)})
    result = failure()
    assert result.first_bad_seq == v.audit_seq
    assert result.reason.startswith(f"published_versions row {v.id} does not match its signed event {v.audit_seq}: "
                                    f"{column} is "), result.reason


REVIEW_CHANGES = {
    "reviewer_id": lambda r, c: c["rev"].id if r.reviewer_id == c["rev2"].id else c["rev2"].id,
    "name": lambda r, c: "Mallory Forge",
    "credentials": lambda r, c: "M.D., Ph.D., FAAD",
    "specialty": lambda r, c: "Cardiology",
    "reviewed_at": lambda r, c: r.reviewed_at + timedelta(microseconds=1),
}


@pytest.mark.parametrize("which", ["publish", "rereview"])
@pytest.mark.parametrize("column", list(REVIEW_CHANGES))
def test_each_published_review_column_is_checked(signed, cast, column, which):
    v = signed["versions"][0 if which == "publish" else 1]
    r = [r for r in signed["reviews"] if r.published_version_id == v.id][-1]
    tamper("published_reviews", r.id, **{column: REVIEW_CHANGES[column](r, cast)})
    result = failure()
    assert result.first_bad_seq == v.audit_seq
    assert result.reason.startswith(f"published_reviews row {r.id} does not match its signed event {v.audit_seq}: "
                                    f"{column} is "), result.reason


def test_a_review_taken_off_a_byline_is_named(signed):
    v = signed["versions"][0]
    (r,) = [r for r in signed["reviews"] if r.published_version_id == v.id]
    db.session.commit()
    with db.engine.begin() as conn:
        t = db.metadata.tables["published_reviews"]
        conn.execute(t.delete().where(t.c.id == r.id))
    result = failure()
    assert result.first_bad_seq == v.audit_seq
    assert result.reason == (f"published_versions row {v.id} does not match its signed event {v.audit_seq}: it shows "
                             f"the reviews of decisions [], the chain says [{r.decision_id}]")


def test_a_review_added_to_a_byline_is_named(signed):
    """Even a review citing a real signature: the request for changes on the other article."""
    v = signed["versions"][0]
    (r,) = [r for r in signed["reviews"] if r.published_version_id == v.id]
    other = signed["decisions"][-1]
    assert other.decision == "request_changes"
    t = db.metadata.tables["published_reviews"]
    row = {c.name: getattr(r, c.name) for c in t.columns if c.name != "id"}
    db.session.commit()
    with db.engine.begin() as conn:
        conn.execute(insert(t).values(row | {"decision_id": other.id, "decision_audit_seq": other.audit_seq}))
    result = failure()
    assert result.first_bad_seq == v.audit_seq
    assert result.reason.endswith(f"it shows the reviews of decisions {sorted([r.decision_id, other.id])}, the chain "
                                  f"says [{r.decision_id}]")


# Rows with no signed event behind them ------------------------------------------------------------------

def test_a_decision_without_its_event_is_named(signed):
    d, other = signed["decisions"][0], signed["decisions"][-1]
    tamper("decisions", d.id, audit_seq=None)
    result = failure()
    assert result.first_bad_seq is None
    assert result.reason == f"decisions row {d.id} has no signed event behind it: its event is not recorded"
    tamper("decisions", d.id, audit_seq=1)
    assert failure().reason == (f"decisions row {d.id} has no signed event behind it: its event 1 is "
                                f"{event(1).action}, not the signature of decision {d.id}")
    tamper("decisions", d.id, audit_seq=other.audit_seq)  # another decision's signature
    assert failure().first_bad_seq == other.audit_seq
    tamper("decisions", d.id, audit_seq=10**6)
    assert "its event 1000000 is missing" in failure().reason


def test_a_row_without_an_event_is_named_without_an_event_number(app, signed, cast, login, client):
    d = signed["decisions"][0]
    tamper("decisions", d.id, audit_seq=None)
    said = f"Audit chain BROKEN: decisions row {d.id} has no signed event behind it: its event is not recorded"
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code != 0 and said in result.output
    login(cast["admin"])
    assert said in client.post("/audit/verify", follow_redirects=True).get_data(as_text=True)


def test_a_published_version_without_its_event_is_named(signed):
    first, second = signed["versions"]
    tamper("published_versions", first.id, audit_seq=None)
    assert failure().reason == (f"published_versions row {first.id} has no publication event behind it: its event "
                                "is not recorded")
    tamper("published_versions", first.id, audit_seq=signed["decisions"][0].audit_seq)
    assert "not the publication of article" in failure().reason
    tamper("published_versions", first.id, audit_seq=second.audit_seq)  # the right kind, for another version
    assert failure().reason.startswith(f"published_versions row {first.id} does not match its signed event "
                                       f"{second.audit_seq}: version is 1, the chain says 2")


def test_a_published_review_must_cite_its_decisions_signature(signed):
    r = signed["reviews"][0]
    other = next(d for d in signed["decisions"] if d.id != r.decision_id)
    tamper("published_reviews", r.id, decision_audit_seq=other.audit_seq)
    result = failure()
    assert result.first_bad_seq == other.audit_seq
    assert result.reason == (f"published_reviews row {r.id} has no signed event behind it: its event "
                             f"{other.audit_seq} is not the signature of decision {r.decision_id}")
    tamper("published_reviews", r.id, decision_audit_seq=None)
    assert failure().reason == f"published_reviews row {r.id} has no signed event behind it: its event is not recorded"


# Events written before bylines were signed ----------------------------------------------------------

def test_events_without_the_new_keys_are_not_compared(signed, cast):
    """A decision or a version whose event predates the contract is linked but not compared."""
    d, v = signed["decisions"][0], signed["versions"][0]
    article = signed["article"]
    old_signature = audit.record("decision.signed", actor=cast["rev"], role="reviewer", target=d, article=article,
                                 details={"decision": d.decision, "signer": d.printed_name,
                                          "credentials": d.credentials})
    old_publication = audit.record("article.published", actor=cast["editor"], role="editor", target=article,
                                   article=article, details={"version": 1, "reviewed_by": ["Dana Okafor, M.D."]})
    db.session.commit()
    tamper("decisions", d.id, audit_seq=old_signature.seq, printed_name="Renamed")
    tamper("published_versions", v.id, audit_seq=old_publication.seq, publisher_name="Renamed")
    result = audit.verify(record_result=False)
    assert result.ok, result.reason


def test_an_event_with_some_of_the_new_keys_must_state_them_all(signed, cast):
    d = signed["decisions"][0]
    partial = audit.record("decision.signed", actor=cast["rev"], role="reviewer", target=d,
                           article=signed["article"], details={"signed_at": d.signed_at.isoformat()})
    db.session.commit()
    tamper("decisions", d.id, audit_seq=partial.seq)
    assert failure().reason == f"decisions row {d.id}: its signed event {partial.seq} does not state decision"


# Cost -------------------------------------------------------------------------------------------------

def test_the_tables_are_compared_in_two_queries_whatever_their_size(signed, cast):
    def statements() -> int:
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        sa_event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert audit._records_problem(db.engine) is None
        finally:
            sa_event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    assert statements() == 2
    for title in ("Hay fever", "Heat rash", "Insect bites"):
        make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"], title=title)
    assert statements() == 2


def test_dates_and_times_compare_as_stored(signed):
    """Times keep their microseconds on both databases, and a licence date reads back as written."""
    d = db.session.get(Decision, signed["decisions"][0].id)
    details = json.loads(event(d.audit_seq).details)
    assert d.signed_at.isoformat() == details["signed_at"] and d.signed_at.utcoffset() == timedelta(0)
    assert isinstance(d.license_expires, date) and d.license_expires.isoformat() == details["license_expires"]
