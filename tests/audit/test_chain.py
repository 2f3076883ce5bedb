"""The audit trail proves itself: one event per action, guards in the database and the session,
a keyed chain that names the first bad event, no secrets, and key rotation.

Tampering tests play an attacker with full database access but without the audit key:
they drop the triggers, change the events, and even recompute plain SHA-256 links.
"""
from __future__ import annotations

import ast
import hashlib
import hmac
import itertools
import json
import pathlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

import reviewflow
from reviewflow.articles import services as articles
from reviewflow.articles import workflow
from reviewflow.audit import services as audit
from reviewflow.audit import verify_parallel
from reviewflow.audit.actions import AuditAction
from reviewflow.audit.models import AuditEvent, AuditHead, AuditVerification
from reviewflow.auth import services as accounts
from reviewflow.errors import BadPassword
from reviewflow.extensions import db
from reviewflow.publishing import services as publishing
from reviewflow.reviews import services as reviews
from tests.audit.tampering import drop_guards, one_pass, same_answer
from tests.factories import BODY, CHECKLIST, PASSWORD, events_after, last_seq, make_article

NEW_PASSWORD = "Brand-New-Passphrase-42"
WRONG_PASSWORD = "Not-The-Right-One-99"


# One event per action ------------------------------------------------------------------------------

def _annotated(cast):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    ann = reviews.add_annotation(cast["rev"], article, 1, "Cold air", "Source?")
    db.session.commit()
    return article, ann


def _published(cast):
    return make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])


def _rereview_ready(cast):
    """A published article re-reviewed by its reviewer and a second one, of whom only the first has signed."""
    article = _published(cast)
    reviews.assign_reviewer(cast["editor"], article, cast["rev2"].id)
    reviews.sign_decision(cast["rev"], article, 1, "approve", PASSWORD, checklist=CHECKLIST)
    db.session.commit()
    return article


def _login_refused(cast):
    with pytest.raises(accounts.LoginRefused):
        accounts.authenticate(cast["writer"].email, WRONG_PASSWORD, "10.9.9.9")


#: name -> (set-up returning context, the action on it, the one audit action expected; or, for the signature
#: that completes a re-review, the signature's and the republication's)
SERVICES = {
    "create_user": (lambda c: None, lambda c, _: accounts.create_user(c["admin"], "n@example.org", "N", PASSWORD,
                                                                      ["writer"]), "account.created"),
    "update_user": (lambda c: None, lambda c, _: accounts.update_user(c["admin"], c["writer"], name="Renamed"),
                    "account.updated"),
    "change_roles": (lambda c: None, lambda c, _: accounts.update_user(c["admin"], c["writer"],
                                                                       roles=["writer", "editor"]),
                     "account.roles_changed"),
    "deactivate": (lambda c: None, lambda c, _: accounts.update_user(c["admin"], c["writer2"], active=False),
                   "account.updated"),
    "save_profile": (lambda c: None, lambda c, _: accounts.save_profile(
        c["admin"], c["rev"], {k: getattr(c["rev"].profile, k) for k in accounts.PROFILE_FIELDS}
        | {"specialty": "Allergy"}), "credentials.changed"),
    "verify_profile": (lambda c: accounts.save_profile(
        c["admin"], c["rev"], {k: getattr(c["rev"].profile, k) for k in accounts.PROFILE_FIELDS}
        | {"specialty": "Allergy"}), lambda c, _: accounts.verify_profile(c["admin"], c["rev"], "Board register."),
                       "credentials.verified"),
    "change_password": (lambda c: None, lambda c, _: accounts.change_password(c["writer"], PASSWORD, NEW_PASSWORD),
                        "account.password_changed"),
    "login": (lambda c: None, lambda c, _: accounts.authenticate(c["writer"].email, PASSWORD, "10.0.0.1"),
              "auth.login"),
    "login_failed": (lambda c: None, lambda c, _: _login_refused(c), "auth.login_failed"),
    "logout": (lambda c: None, lambda c, _: accounts.end_sessions(c["writer"]), "auth.logout"),
    "create_token": (lambda c: None, lambda c, _: accounts.create_token(c["writer"], c["writer"], "t", PASSWORD),
                     "token.created"),
    "revoke_token": (lambda c: accounts.create_token(c["writer"], c["writer"], "t", PASSWORD)[0],
                     lambda c, tok: accounts.revoke_token(c["writer"], tok), "token.revoked"),
    "create_article": (lambda c: None, lambda c, _: articles.create_article(c["writer"], "New one", BODY),
                       "article.created"),
    "save_revision": (lambda c: make_article(c["writer"]), lambda c, a: articles.save_revision(
        c["writer"], a, a.title, BODY + "x", 1), "revision.saved"),
    "submit": (lambda c: make_article(c["writer"]), lambda c, a: articles.submit_article(c["writer"], a),
               "article.submitted"),
    "assign": (lambda c: make_article(c["writer"], "submitted"),
               lambda c, a: reviews.assign_reviewer(c["editor"], a, c["rev"].id), "reviewer.assigned"),
    "withdraw": (lambda c: make_article(c["writer"], "in_review", reviewer=c["rev"], editor=c["editor"]),
                 lambda c, a: reviews.withdraw_assignment(c["editor"], a, workflow_assignment(c, a)),
                 "reviewer.withdrawn"),
    "annotate": (lambda c: make_article(c["writer"], "in_review", reviewer=c["rev"], editor=c["editor"]),
                 lambda c, a: reviews.add_annotation(c["rev"], a, 1, "Cold air", "Source?", blocking=True),
                 "annotation.added"),
    "reply": (_annotated, lambda c, x: reviews.reply_to_annotation(c["writer"], x[1], "Done."),
              "annotation.replied"),
    "resolve": (_annotated, lambda c, x: reviews.set_annotation_status(c["writer"], x[1], "resolved"),
                "annotation.resolved"),
    "approve": (lambda c: make_article(c["writer"], "in_review", reviewer=c["rev"], editor=c["editor"]),
                lambda c, a: reviews.sign_decision(c["rev"], a, 1, "approve", PASSWORD, checklist=CHECKLIST),
                "decision.signed"),
    "request_changes": (lambda c: make_article(c["writer"], "in_review", reviewer=c["rev"], editor=c["editor"]),
                        lambda c, a: reviews.sign_decision(c["rev"], a, 1, "request_changes", PASSWORD,
                                                           comment="Cite it."), "decision.signed"),
    "publish": (lambda c: make_article(c["writer"], "approved", reviewer=c["rev"], editor=c["editor"]),
                lambda c, a: publishing.publish_revision(c["editor"], a, 1), "article.published"),
    "complete_rereview": (_rereview_ready, lambda c, a: reviews.sign_decision(c["rev2"], a, 1, "approve", PASSWORD,
                                                                               checklist=CHECKLIST),
                          ("decision.signed", "article.rereviewed")),
    "unpublish": (_published, lambda c, a: publishing.unpublish_article(c["editor"], a, "Recalled."),
                  "article.unpublished"),
    "rereview_interval": (_published, lambda c, a: publishing.set_rereview_interval(c["editor"], a, 6),
                          "rereview.scheduled"),
}


def workflow_assignment(cast, article):
    from reviewflow import policy

    return policy.active_assignment(cast["rev"], article)


@pytest.mark.parametrize("name", list(SERVICES))
def test_each_service_logs_exactly_one_event(db, cast, name):
    setup, action, expected = SERVICES[name]
    context = setup(cast)
    db.session.commit()
    seq = last_seq()
    action(cast, context)
    db.session.commit()
    events = events_after(seq)
    assert [e.action for e in events] == ([expected] if isinstance(expected, str) else list(expected))
    event = events[0]
    assert event.occurred_at is not None and event.occurred_at.utcoffset() == timedelta(0)
    assert event.key_id == audit.key_id_of("test-audit-key")
    assert audit.verify(record_result=False).ok


def test_events_record_who_what_and_which_revision(db, cast):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    seq = last_seq()
    signed = reviews.sign_decision(cast["rev"], article, 1, "approve", PASSWORD, checklist=CHECKLIST)
    db.session.commit()
    (event,) = events_after(seq)
    assert (event.actor_id, event.actor_name, event.actor_role) == (cast["rev"].id, "Dana Okafor, M.D., Ph.D.",
                                                                     "reviewer")
    assert (event.target_type, event.target_id) == ("decision", signed.id)
    assert (event.article_id, event.revision_number, event.content_hash) == (article.id, 1,
                                                                            article.revision.content_hash)
    assert (event.before_state, event.after_state) == ("in_review", "approved")
    details = json.loads(event.details)
    assert details["credentials"] == "M.D., Ph.D." and details["decision"] == "approve"
    assert details["meaning"] == signed.meaning
    assert signed.audit_seq == event.seq
    # A later rename does not rewrite history.
    accounts.update_user(cast["admin"], cast["rev"], name="Dana Okafor-Reyes")
    db.session.commit()
    db.session.refresh(event)
    assert event.actor_name == "Dana Okafor, M.D., Ph.D."


def test_sequence_numbers_are_contiguous_and_linked(db, cast):
    make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    events = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == "0" * 64
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    head = db.session.get(AuditHead, 1)
    assert (head.seq, head.hash) == (events[-1].seq, events[-1].hash)


# The database refuses UPDATE and DELETE ------------------------------------------------------------

@pytest.mark.parametrize("statement", ["UPDATE audit_events SET action = 'forged'",
                                       "UPDATE audit_events SET details = '{}' WHERE seq = 1",
                                       "DELETE FROM audit_events WHERE seq = 1",
                                       "DELETE FROM audit_events"])
def test_triggers_refuse_update_and_delete(db, cast, statement):
    count = last_seq()
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text(statement))
    assert audit.verify(record_result=False).ok
    assert audit.verify(record_result=False).count == count


def test_postgres_also_refuses_truncate(db, cast, is_postgres):
    if not is_postgres:
        pytest.skip("TRUNCATE exists only on PostgreSQL")
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_events"))


def test_session_guard_refuses_orm_update(db, cast):
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).first()
    event.action = "forged"
    with pytest.raises(PermissionError):
        db.session.flush()
    db.session.rollback()
    assert audit.verify(record_result=False).ok


def test_session_guard_refuses_orm_delete(db, cast):
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).first()
    db.session.delete(event)
    with pytest.raises(PermissionError):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(AuditEvent, event.id) is not None


# Verification names the first bad event --------------------------------------------------------------

def _rows() -> list[SimpleNamespace]:
    cols = ", ".join(("id", *audit.FIELDS))
    with db.engine.connect() as conn:
        return [SimpleNamespace(**r._asdict()) for r in conn.execute(text(f"SELECT {cols} FROM audit_events "
                                                                          "ORDER BY seq"))]


def relink_with_plain_sha256(from_seq: int) -> None:
    """The attacker's repair: recompute every link from ``from_seq`` with plain SHA-256 (no key)."""
    rows = _rows()
    prev = "0" * 64
    with db.engine.begin() as conn:
        for row in rows:
            if row.seq >= from_seq:
                row.prev_hash = prev
                row.hash = hashlib.sha256(prev.encode() + b"\n" + audit.encode(row)).hexdigest()
                conn.execute(text("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE id = :id"),
                             {"p": row.prev_hash, "h": row.hash, "id": row.id})
            prev = row.hash
        conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1"),
                     {"s": rows[-1].seq if rows else 0, "h": prev})
    db.session.expire_all()


def _renumber(conn, from_seq: int, delta: int) -> None:
    """Shift every seq >= from_seq by delta (in two steps, so the unique index never collides)."""
    conn.execute(text("UPDATE audit_events SET seq = -seq WHERE seq >= :s"), {"s": from_seq})
    conn.execute(text("UPDATE audit_events SET seq = -seq + :d WHERE seq < 0"), {"d": delta})


def edit(k: int) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET details = :d WHERE seq = :k"),
                     {"d": json.dumps({"forged": True}), "k": k})


def delete(k: int) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = :k"), {"k": k})


def delete_and_renumber(k: int) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = :k"), {"k": k})
        _renumber(conn, k + 1, -1)
        conn.execute(text("UPDATE audit_head SET seq = seq - 1 WHERE id = 1"))


def reorder(k: int) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET seq = -1 WHERE seq = :k"), {"k": k})
        conn.execute(text("UPDATE audit_events SET seq = :k WHERE seq = :n"), {"k": k, "n": k + 1})
        conn.execute(text("UPDATE audit_events SET seq = :n WHERE seq = -1"), {"n": k + 1})


def insert(k: int) -> None:
    """A forged event slipped in at position k, copied from its neighbour, linked to its predecessor."""
    rows = {r.seq: r for r in _rows()}
    forged = SimpleNamespace(**vars(rows[k]))
    forged.seq, forged.action, forged.details = k, "decision.signed", json.dumps({"decision": "approve"})
    forged.prev_hash = rows[k - 1].hash
    forged.hash = hashlib.sha256(forged.prev_hash.encode() + b"\n" + audit.encode(forged)).hexdigest()
    with db.engine.begin() as conn:
        _renumber(conn, k, +1)
        values = {f: getattr(forged, f) for f in audit.FIELDS}
        values["occurred_at"] = rows[k].occurred_at  # stored exactly as the database holds it
        cols = ", ".join(values)
        conn.execute(text(f"INSERT INTO audit_events ({cols}) VALUES ({', '.join(':' + c for c in values)})"),
                     values)
        conn.execute(text("UPDATE audit_head SET seq = seq + 1 WHERE id = 1"))


@pytest.fixture
def chain(db, cast):
    """An honest chain of a dozen or so events, checked to verify."""
    make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    result = audit.verify(record_result=False)
    assert result.ok and result.count == last_seq() >= 12
    return result.count


TAMPERING = {"edited": edit, "deleted": delete, "deleted and renumbered": delete_and_renumber,
             "reordered": reorder, "inserted": insert}


@pytest.mark.parametrize("relink", [False, True], ids=["plain", "hashes recomputed"])
@pytest.mark.parametrize("how", list(TAMPERING))
def test_verify_names_the_first_bad_event(chain, how, relink):
    k = 10
    drop_guards()
    TAMPERING[how](k)
    if relink:
        relink_with_plain_sha256(k)
    result = audit.verify(record_result=False)
    assert not result.ok
    assert result.first_bad_seq == k, result.reason
    assert str(k) in result.reason


def test_verify_reasons_say_what_happened(chain):
    drop_guards()
    edit(10)
    assert "edited" in audit.verify(record_result=False).reason


def test_verify_reason_for_a_missing_event(chain):
    drop_guards()
    delete(10)
    result = audit.verify(record_result=False)
    assert result.first_bad_seq == 10 and "missing" in result.reason


def test_verify_reason_for_reordered_events(chain):
    drop_guards()
    reorder(10)
    result = audit.verify(record_result=False)
    assert result.first_bad_seq == 10 and ("reordered" in result.reason or "order" in result.reason)


def test_verify_notices_a_deleted_last_event(chain):
    drop_guards()
    delete(chain)
    result = audit.verify(record_result=False)
    assert not result.ok and result.first_bad_seq == chain


def test_cli_verify_exits_non_zero_and_names_the_event(app, chain):
    drop_guards()
    edit(7)
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code != 0
    assert "event 7" in result.output


def test_verify_records_its_outcome(chain):
    audit.verify()
    last = audit.last_verification()
    assert last.ok and last.events == chain and last.first_bad_seq is None
    drop_guards()
    edit(3)
    audit.verify()
    last = audit.last_verification()
    assert not last.ok and last.first_bad_seq == 3
    assert db.session.scalar(select(AuditVerification).order_by(AuditVerification.id)).ok


# Verifying in ranges on several cores ----------------------------------------------------------------

def test_ranges_cover_every_sequence_number_once():
    for last in (0, 1, 2, verify_parallel.SPAN - 1, verify_parallel.SPAN, verify_parallel.SPAN + 1, 1_000_000,
                 10**12):
        ranges = verify_parallel.spans(last)
        assert ranges[0][0] == 1 and ranges[-1][1] is None  # nothing below 1 or beyond the last escapes
        assert all(after[0] == before[1] + 1 for before, after in itertools.pairwise(ranges))
        assert len(ranges) <= verify_parallel.MAX_SPANS
        assert len(ranges) == 1 or max(r[1] for r in ranges[:-1]) + 1 <= max(last, 1)


@pytest.mark.real_commits  # forked workers read the chain on connections of their own
def test_a_long_chain_is_checked_in_ranges_by_workers(chain, in_ranges, monkeypatch):
    result = audit.verify(record_result=False)
    assert result.ok and result.count == chain
    assert len(in_ranges) == 1 and len(in_ranges[0]) == -(-chain // 3)
    assert same_answer(result, one_pass(monkeypatch))


@pytest.mark.real_commits  # forked workers read the chain on connections of their own
@pytest.mark.parametrize("k", [3, 4, 8], ids=["last of a range", "first of a range", "inside a range"])
@pytest.mark.parametrize("relink", [False, True], ids=["plain", "hashes recomputed"])
@pytest.mark.parametrize("how", list(TAMPERING))
def test_ranges_name_the_same_first_bad_event_as_one_pass(chain, in_ranges, monkeypatch, how, k, relink):
    drop_guards()
    TAMPERING[how](k)
    if relink:
        relink_with_plain_sha256(k)
    result = audit.verify(record_result=False)
    assert in_ranges, "the check did not run in ranges"
    assert not result.ok and result.first_bad_seq == k, result.reason
    assert same_answer(result, one_pass(monkeypatch))


@pytest.mark.real_commits  # forked workers read the chain on connections of their own
def test_ranges_and_a_whole_range_missing(chain, in_ranges, monkeypatch):
    drop_guards()
    for k in (4, 5, 6):
        delete(k)
    result = audit.verify(record_result=False)
    assert result.first_bad_seq == 4 and "next found is 7" in result.reason
    assert same_answer(result, one_pass(monkeypatch))


@pytest.mark.real_commits  # forked workers read the chain on connections of their own
def test_ranges_and_an_event_numbered_below_one(chain, in_ranges, monkeypatch):
    drop_guards()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET seq = 0 WHERE seq = 8"))
    result = audit.verify(record_result=False)
    assert result.first_bad_seq == 1 and "event 0 appears out of order" in result.reason
    assert same_answer(result, one_pass(monkeypatch))


@pytest.mark.real_commits  # forked workers read the chain on connections of their own
@pytest.mark.parametrize("lost", [1, 2, 4])
def test_ranges_and_a_truncated_tail(chain, in_ranges, monkeypatch, lost):
    drop_guards()
    for k in range(chain - lost + 1, chain + 1):
        delete(k)
    result = audit.verify(record_result=False)
    assert result.first_bad_seq == chain - lost + 1 and "the head records" in result.reason
    assert same_answer(result, one_pass(monkeypatch))


@pytest.mark.real_commits  # forked workers read the chain on connections of their own
def test_ranges_and_a_head_that_does_not_match(chain, in_ranges, monkeypatch):
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET hash = :h WHERE id = 1"), {"h": "f" * 64})
    result = audit.verify(record_result=False)
    assert result.first_bad_seq == chain and "head does not match" in result.reason
    assert same_answer(result, one_pass(monkeypatch))


@pytest.mark.real_commits  # forked workers read the chain on connections of their own
def test_ranges_and_key_rotation(app, db, cast, in_ranges, monkeypatch):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    app.config["AUDIT_KEY"] = "the-new-audit-key-2027"
    app.config["AUDIT_OLD_KEYS"] = "2026:test-audit-key"
    reviews.sign_decision(cast["rev"], article, 1, "approve", PASSWORD, checklist=CHECKLIST)
    reviews.add_annotation(cast["rev"], article, 1, "Cold air", "Source?")
    db.session.commit()
    assert audit.verify(record_result=False).ok
    app.config["AUDIT_OLD_KEYS"] = ""
    result = audit.verify(record_result=False)
    assert len(in_ranges) == 2
    assert result.first_bad_seq == 1 and "unknown key" in result.reason
    assert same_answer(result, one_pass(monkeypatch))


def test_the_message_built_by_the_database_is_what_the_hash_signs(chain):
    """``_message_sql`` must agree with ``encode`` on every event, NULLs, numbers and times included."""
    expected = {row.seq: f"{row.prev_hash}\n{audit.encode(row).decode()}" for row in _rows()}
    with db.engine.connect() as conn, audit._chain_rows(conn, None, None) as rows:
        built = {seq: message for seq, _key_id, _hash, message in rows}
    assert built == expected
    assert any(row.actor_id is None for row in _rows()) and any(row.revision_number for row in _rows())


@pytest.mark.real_commits  # forked workers read the chain on connections of their own
def test_an_event_with_a_nul_character_still_verifies(db, cast, is_postgres, in_ranges, monkeypatch):
    """SQLite's printf stops at NUL, so such an event misses the fast path; the exact re-check in Python
    (``encode``) must still accept it, and still catch an edit of it."""
    if is_postgres:
        pytest.skip("PostgreSQL text cannot hold a NUL character")
    make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    nul_event = audit.record("site.setting_changed", target_label="before\x00after")
    make_article(cast["writer"], "submitted")
    db.session.commit()
    result = audit.verify(record_result=False)
    assert result.ok and result.count == last_seq() and in_ranges
    drop_guards()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET target_label = :label WHERE seq = :s"),
                     {"label": "before\x00later", "s": nul_event.seq})
    result = audit.verify(record_result=False)
    assert result.first_bad_seq == nul_event.seq and f"({nul_event.action}) was edited" in result.reason


@pytest.mark.real_commits  # forked workers read the chain on connections of their own
def test_a_link_that_only_starts_with_the_right_hash_is_not_taken_for_an_edit(chain, is_postgres, in_ranges,
                                                                               monkeypatch):
    """The fast path checks a link with ``startswith``; a longer ``prev_hash`` must still be named a bad link."""
    if is_postgres:
        pytest.skip("PostgreSQL holds prev_hash to 64 characters")
    drop_guards()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET prev_hash = prev_hash || '0' WHERE seq = 5"))
    result = audit.verify(record_result=False)
    assert result.first_bad_seq == 5 and "does not follow event 4" in result.reason
    assert same_answer(result, one_pass(monkeypatch))


@pytest.mark.parametrize("key", [b"k", b"x" * 63, b"y" * 64, b"z" * 65, b"bench-audit-key" * 9])
def test_prepared_hmac_is_hmac_sha256(key):
    inner, outer = (h.copy() for h in audit._hmac_pads(key))
    inner.update(b"0" * 64 + b"\nmessage\x1f42")
    outer.update(inner.digest())
    assert outer.hexdigest() == hmac.digest(key, b"0" * 64 + b"\nmessage\x1f42", "sha256").hex()


# No secrets ----------------------------------------------------------------------------------------

def test_no_password_or_token_in_any_event(app, client, db, cast):
    writer = cast["writer"]
    client.post("/login", data={"email": writer.email, "password": WRONG_PASSWORD})
    client.post("/login", data={"email": writer.email, "password": PASSWORD})
    _, token = accounts.create_token(writer, writer, "ci", PASSWORD)
    accounts.create_user(cast["admin"], "fresh@example.org", "Fresh Person", NEW_PASSWORD, ["writer"])
    accounts.change_password(cast["editor"], PASSWORD, NEW_PASSWORD)
    article = make_article(writer, "in_review", reviewer=cast["rev"], editor=cast["editor"])
    with pytest.raises(BadPassword):
        reviews.sign_decision(cast["rev"], article, 1, "approve", WRONG_PASSWORD, checklist=CHECKLIST)
    db.session.rollback()
    reviews.sign_decision(cast["rev"], article, 1, "approve", PASSWORD, checklist=CHECKLIST)
    db.session.commit()
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200

    secrets = [PASSWORD, NEW_PASSWORD, WRONG_PASSWORD, token, token[10:]]
    events = list(db.session.scalars(select(AuditEvent)))
    assert len(events) >= 19
    for event in events:
        for column in audit.FIELDS:
            value = str(getattr(event, column))
            for secret in secrets:
                assert secret not in value, (event.seq, event.action, column)
        keys = json.dumps(json.loads(event.details)).lower()
        assert '"password' not in keys and '"token' not in keys, (event.seq, event.details)
    hashed = [t.token_hash for t in accounts.tokens_of(writer)]
    assert token not in hashed and hashlib.sha256(token.encode()).hexdigest() in hashed


def test_record_scrubs_secret_looking_details(db):
    event = audit.record("site.setting_changed",
                         details={"password": "x", "api_token": "y", "client_secret": "z", "ok": 1})
    db.session.commit()
    assert json.loads(event.details) == {"ok": 1}


def test_record_refuses_an_action_nobody_registered(db):
    """A misspelt or unregistered action is a programming error, refused before anything is written."""
    before = last_seq()
    with pytest.raises(ValueError, match=r"reviewflow/audit/actions\.py"):
        audit.record("article.publishd")
    assert last_seq() == before
    assert audit.record(AuditAction.AUTH_LOGIN).action == "auth.login"


def test_every_action_the_code_records_is_registered():
    """Each literal action handed to ``record`` or a transition anywhere in reviewflow is in ``AuditAction``."""
    found = set()
    for path in pathlib.Path(reviewflow.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "record" \
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    assert found, "no literal actions found: the scan is broken"
    assert found <= {action.value for action in AuditAction}
    assert {t.action for t in workflow.TRANSITIONS.values()} <= set(AuditAction)


# Key rotation ----------------------------------------------------------------------------------------

def test_events_signed_with_an_old_key_verify_after_rotation(app, db, cast):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    old_count = last_seq()
    app.config["AUDIT_KEY"] = "the-new-audit-key-2027"
    app.config["AUDIT_OLD_KEYS"] = "2026:test-audit-key"
    reviews.sign_decision(cast["rev"], article, 1, "approve", PASSWORD, checklist=CHECKLIST)
    db.session.commit()
    events = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
    assert {e.key_id for e in events[:old_count]} == {audit.key_id_of("test-audit-key")}
    assert events[-1].key_id == audit.key_id_of("the-new-audit-key-2027")
    result = audit.verify(record_result=False)
    assert result.ok and result.count == old_count + 1

    app.config["AUDIT_OLD_KEYS"] = ""  # forgetting the old key breaks verification, at the first old event
    result = audit.verify(record_result=False)
    assert not result.ok and result.first_bad_seq == 1 and "key" in result.reason


def test_a_chain_signed_with_another_key_does_not_verify(app, db, cast):
    """Someone who recomputes the chain with a key of their own is caught too."""
    make_article(cast["writer"], "draft")
    app.config["AUDIT_KEY"] = "an-attackers-key"
    app.config["AUDIT_OLD_KEYS"] = ""
    result = audit.verify(record_result=False)
    assert not result.ok and result.first_bad_seq == 1
