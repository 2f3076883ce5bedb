"""The benchmark's data builder on a tiny size: rows that agree with each other and a chain that verifies.

Runs on whichever database the suite uses (SQLite, or PostgreSQL in CI, where the builder
loads with COPY). The HTTP and load parts of the benchmark are exercised by ``make bench-quick``.
"""
from __future__ import annotations

import pytest

import bench
from bench.dataset import Sizes, build, token_of
from reviewflow.articles.models import Article, Revision, content_hash
from reviewflow.audit import services as audit
from reviewflow.audit.models import AuditEvent, AuditHead
from reviewflow.auth.services import user_for_token
from reviewflow.publishing.models import PublishedReview, PublishedVersion
from reviewflow.reviews.models import Annotation, Decision, ReviewAssignment

#: The benchmark's builder writes through an engine of its own: real commits.
pytestmark = pytest.mark.real_commits

SIZES = Sizes(articles=40, revisions=3, people=16, published=10, events=1500)


def _build(app, db):
    db.session.remove()
    return build(app.config["SQLALCHEMY_DATABASE_URI"], SIZES, log=lambda _: None)


def test_builder_fills_every_table_with_the_requested_sizes(app, db):
    result = _build(app, db)
    assert result.counts["articles"] == 40
    assert result.counts["revisions"] == 40 * 3
    assert result.counts["users"] == 16
    assert result.counts["audit_events"] == 1500
    assert db.session.query(Article).filter(Article.live_version.is_not(None)).count() == 10
    assert result.counts["decisions"] > 0 and result.counts["annotations"] > 0


def test_the_audit_chain_verifies_with_the_benchmark_key_and_the_head_matches(app, db):
    result = _build(app, db)
    app.config["AUDIT_KEY"] = bench.AUDIT_KEY
    verified = audit.verify(record_result=False)
    assert verified.ok, verified.reason
    assert verified.count == 1500
    head = db.session.get(AuditHead, 1)
    assert (head.seq, head.hash) == (1500, result.head_hash)
    seqs = [s for (s,) in db.session.query(AuditEvent.seq).order_by(AuditEvent.seq)]
    assert seqs == list(range(1, 1501))


def test_the_chain_breaks_under_another_key(app, db):
    _build(app, db)
    app.config["AUDIT_KEY"] = "some-other-key"
    assert not audit.verify(record_result=False).ok


def test_rows_agree_with_each_other(app, db):
    _build(app, db)
    for article in db.session.query(Article):
        numbers = [r.number for r in db.session.query(Revision).filter_by(article_id=article.id)
                   .order_by(Revision.number)]
        assert numbers == list(range(1, article.current_revision + 1))
        rev = article.revision
        assert rev.content_hash == content_hash(rev.title, rev.body)
        if article.live_version is not None:
            assert article.state == "published"
            live = db.session.query(PublishedVersion).filter_by(article_id=article.id,
                                                                version=article.live_version).one()
            reviews = db.session.query(PublishedReview).filter_by(published_version_id=live.id).all()
            assert reviews
            for pr in reviews:
                decision = db.session.get(Decision, pr.decision_id)
                assert decision.decision == "approve"
                assert decision.revision_number == live.revision_number
                assert decision.content_hash == live.content_hash
                assert pr.decision_audit_seq == decision.audit_seq
        if article.state == "approved":
            for a in db.session.query(ReviewAssignment).filter_by(article_id=article.id):
                decision = db.session.get(Decision, a.decision_id)
                assert (a.status, decision.decision, decision.revision_number) == \
                    ("approved", "approve", article.current_revision)
    for ann in db.session.query(Annotation).filter_by(status="open"):
        rev = db.session.query(Revision).filter_by(article_id=ann.article_id, number=ann.anchored_revision).one()
        assert rev.body[ann.position:ann.position + len(ann.quote)] == ann.quote
    for decision in db.session.query(Decision):
        event = db.session.query(AuditEvent).filter_by(seq=decision.audit_seq).one()
        assert (event.action, event.target_id, event.article_id) == ("decision.signed", decision.id,
                                                                     decision.article_id)


def test_benchmark_tokens_sign_in_to_the_api(app, db):
    _build(app, db)
    with app.test_request_context():
        user = user_for_token(token_of(3))
        assert user is not None and user.id == 3


def _restart_result(same_build: bool) -> dict:
    run = {"rps": 900.0, "p99_ms": 4.0}
    return {"db": "sqlite", "targets": [], "hello_rps": 1000.0,
            "restart": {"c16": run, "hello_random_c16": {"rps": 1000.0}, "stored_pages": 5001,
                        "same_build": same_build}}


def test_the_restart_figure_is_flagged_when_the_build_changed_during_the_run():
    from bench.report import budgets

    [valid] = [b for b in budgets(_restart_result(True)) if "restart" in b["budget"]]
    assert valid["ok"] is None and "0.90× hello" in valid["measured"] and "5,001 pages" in valid["measured"]
    assert "NOT VALID" not in valid["measured"]
    [invalid] = [b for b in budgets(_restart_result(False)) if "restart" in b["budget"]]
    assert invalid["ok"] is False and "NOT VALID" in invalid["measured"]


def test_store_builds_counts_the_finished_pages_of_each_build(app, db):
    from bench.__main__ import store_builds
    from reviewflow.public.models import FinishedPage

    for key, made_by in (("a", "one"), ("b", "one"), ("c", "two")):
        db.session.add(FinishedPage(key=key, scope=1, generation=1, build=made_by, status=200, meta="{}", body=b""))
    db.session.commit()
    db.session.remove()
    assert store_builds(app.config["SQLALCHEMY_DATABASE_URI"]) == {"one": 2, "two": 1}
