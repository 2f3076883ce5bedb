"""The rules of "The byline cannot lie", each tried the way the issue found it broken.

Every rule is tried through the services and through the JSON API (the pages go through the
same services; tests/reviews/test_views.py covers them), on SQLite and on PostgreSQL.
"""
from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from reviewflow.articles import services as articles
from reviewflow.articles.models import Article
from reviewflow.audit import chain
from reviewflow.audit import services as audit
from reviewflow.audit.models import AuditEvent
from reviewflow.auth import services as accounts
from reviewflow.auth.models import User
from reviewflow.auth.services import with_roles
from reviewflow.errors import Conflict, Forbidden, InvalidInput, NotFound, ReviewerUnavailable
from reviewflow.extensions import db, utcnow
from reviewflow.publishing import services as publishing
from reviewflow.publishing.models import PublishedVersion
from reviewflow.reviews import services as reviews
from reviewflow.reviews.models import Decision
from tests.factories import BODY, CHECKLIST, PASSWORD, event_count, events_after, last_seq, make_article, make_user
from tests.factories import verify as verify_credentials

QUOTE = "Cold air and low humidity"


def _approve(reviewer, article, **kw):
    return reviews.sign_decision(reviewer, article, article.current_revision, "approve", PASSWORD,
                                 checklist=CHECKLIST, **kw)


def _error(response, status: int, code: str) -> str:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.get_json()["error"]["code"] == code, response.get_json()
    return response.get_json()["error"]["message"]


def _signers(version: PublishedVersion) -> set[str]:
    return {r.name for r in version.reviews}


# Re-reviews need fresh signatures; each version names exactly its signers -------------------------

def test_a_rereview_voids_earlier_approvals_and_names_only_its_own_signers(db, cast):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    reviews.assign_reviewer(cast["editor"], article, cast["rev2"].id)  # re-review of the live text
    db.session.commit()
    assert article.state == "in_review"
    assert {a.status for a in reviews.workflow.active_assignments(article)} == {"pending"}
    _approve(cast["rev2"], article)
    db.session.commit()
    assert article.state == "in_review" and article.live_version == 1, "Dana's approval of v1 does not count"
    _approve(cast["rev"], article)
    db.session.commit()
    assert article.state == "published" and article.live_version == 2
    v1, v2 = publishing.versions_of(article.id)
    assert _signers(v2) == {"Dana Okafor", "Ravi Senn"} and v2.kind == "rereview"
    assert all(r.reviewed_at > v1.published_at for r in v2.reviews), "only signatures given for this re-review"
    assert audit.verify(record_result=False).ok


def test_a_rereview_by_a_new_reviewer_does_not_name_the_first_one(db, cast, api):
    """The hole as found: a new reviewer approves, and the new version also named the first reviewer,
    whose licence had meanwhile expired. Through the API, as a client would."""
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    profile = {k: getattr(cast["rev"].profile, k) for k in accounts.PROFILE_FIELDS}
    accounts.save_profile(cast["admin"], cast["rev"], {**profile, "license_expires": "2021-01-01"})
    db.session.commit()
    verify_credentials(cast["rev"])
    first = reviews.policy.active_assignment(cast["rev"], article)
    assert api(cast["editor"], "DELETE", f"/articles/{article.id}/assignments/{first.id}").status_code == 200
    assert api(cast["editor"], "POST", f"/articles/{article.id}/assignments",
               json={"reviewer_id": cast["rev2"].id}).status_code == 201
    signed = api(cast["rev2"], "POST", f"/articles/{article.id}/decisions",
                 json={"revision": 1, "decision": "approve", "password": PASSWORD, "checklist": CHECKLIST})
    assert signed.status_code == 201
    public = api(None, "GET", f"/published/{article.slug}").get_json()
    assert [r["name"] for r in public["reviewed_by"]] == ["Ravi Senn"]
    assert [v["version"] for v in public["versions"]] == [1, 2]


def test_every_active_reviewer_signs_a_rereview(db, cast):
    """A re-review started with the same reviewer needs their fresh signature: no version until then."""
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    reviews.assign_reviewer(cast["editor"], article, cast["rev"].id)
    db.session.commit()
    assert article.state == "in_review"
    with pytest.raises(Conflict):
        publishing.publish_revision(cast["editor"], article, 1)
    db.session.rollback()
    seq = last_seq()
    _approve(cast["rev"], article)
    db.session.commit()
    assert [e.action for e in events_after(seq)] == ["decision.signed", "article.rereviewed"]
    assert article.live_version == 2


# Verified credentials --------------------------------------------------------------------------

def test_unverified_reviewers_are_neither_assigned_nor_signing(db, cast, api):
    fresh = make_user("reviewer", name="Ines Unverified", verified=False)
    article = make_article(cast["writer"], "submitted")
    message = _error(api(cast["editor"], "POST", f"/articles/{article.id}/assignments",
                         json={"reviewer_id": fresh.id}), 409, "reviewer_unavailable")
    assert "not verified" in message
    # Verified, assigned, then her credentials change: the new version must be verified before she signs.
    verify_credentials(fresh)
    assert api(cast["editor"], "POST", f"/articles/{article.id}/assignments",
               json={"reviewer_id": fresh.id}).status_code == 201
    profile = {k: getattr(fresh.profile, k) for k in accounts.PROFILE_FIELDS}
    accounts.save_profile(cast["admin"], fresh, {**profile, "credentials": "M.D., Ph.D."})
    db.session.commit()
    body = {"revision": 1, "decision": "approve", "password": PASSWORD, "checklist": CHECKLIST}
    api(fresh, "GET", "/me")
    before = event_count()
    assert "not verified" in _error(api(fresh, "POST", f"/articles/{article.id}/decisions", json=body), 409,
                                    "reviewer_unavailable")
    assert event_count() == before
    verify_credentials(fresh)
    signed = api(fresh, "POST", f"/articles/{article.id}/decisions", json=body)
    assert signed.status_code == 201 and signed.get_json()["signer"]["credentials"] == "M.D., Ph.D."


def test_verify_credentials_command(app, db, cast):
    fresh = make_user("reviewer", name="Cleo Command", email="cleo@example.org", verified=False)
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["verify-credentials", "--email", "cleo@example.org", "--by", cast["writer"].email,
                                  "--method", "Looked it up."])
    assert refused.exit_code == 1 and "admin" in refused.output.lower()
    result = runner.invoke(args=["verify-credentials", "--email", "cleo@example.org", "--by", cast["admin"].email,
                                 "--method", "Licence looked up in the state board's public register."])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    profile = db.session.get(User, fresh.id).profile
    assert profile.is_verified and profile.verified_by_id == cast["admin"].id
    assert profile.verification_method == "Licence looked up in the state board's public register."
    again = runner.invoke(args=["verify-credentials", "--email", "cleo@example.org", "--by", cast["admin"].email,
                                "--method", "Again."])
    assert again.exit_code == 1 and "already verified" in again.output


def test_verification_needs_a_method_and_an_admin_who_is_not_the_reviewer(db, cast):
    fresh = make_user("reviewer", "admin", name="Self Checker", verified=False)
    with pytest.raises(Forbidden):
        accounts.verify_profile(fresh, fresh, "I know my own licence.")
    db.session.rollback()
    with pytest.raises(InvalidInput):
        accounts.verify_profile(cast["admin"], fresh, "  ")
    db.session.rollback()
    with pytest.raises(InvalidInput):
        accounts.verify_profile(cast["admin"], fresh, "Looked up\nthen forged")
    db.session.rollback()
    assert not db.session.get(User, fresh.id).profile.is_verified


# The checklist is the service's rule --------------------------------------------------------------

def test_review_checklist_endpoint(api, cast, app):
    response = api(None, "GET", "/review-checklist")
    assert response.status_code == 200 and response.get_json() == {"items": list(app.config["REVIEW_CHECKLIST"])}


@pytest.mark.parametrize("checklist", [None, [], CHECKLIST[:-1], [*CHECKLIST, "I skimmed it"], "all", [1, 2]])
def test_an_approval_attests_every_item(api, cast, db, checklist):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    body = {"revision": 1, "decision": "approve", "password": PASSWORD}
    if checklist is not None:
        body["checklist"] = checklist
    api(cast["rev"], "GET", "/me")  # the test's token is made (an audit event) before counting
    before = event_count()
    _error(api(cast["rev"], "POST", f"/articles/{article.id}/decisions", json=body), 400, "invalid_input")
    assert event_count() == before and db.session.scalar(select(Decision.id)) is None


def test_the_attested_checklist_is_stored_with_the_signature(api, cast, db):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    response = api(cast["rev"], "POST", f"/articles/{article.id}/decisions",
                   json={"revision": 1, "decision": "approve", "password": PASSWORD,
                         "checklist": list(reversed(CHECKLIST))})
    assert response.status_code == 201
    decision = db.session.scalar(select(Decision))
    assert json.loads(decision.checklist) == CHECKLIST
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "decision.signed"))
    assert json.loads(event.details)["checklist"] == CHECKLIST


def test_a_request_for_changes_says_why_and_attests_what_it_lists(db, cast):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    with pytest.raises(InvalidInput):
        reviews.sign_decision(cast["rev"], article, 1, "request_changes", PASSWORD, comment=" ")
    db.session.rollback()
    signed = reviews.sign_decision(cast["rev"], article, 1, "request_changes", PASSWORD,
                                   comment="Cite the guideline.", checklist=CHECKLIST[:1])
    assert json.loads(signed.checklist) == CHECKLIST[:1]


# Blocking annotations and resubmission ------------------------------------------------------------

def test_a_writer_can_neither_resolve_blocking_annotations_nor_resubmit_unchanged(api, cast, db):
    """The hole as found: the writer resolved the reviewer's blocking annotation and resubmitted."""
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    ann = api(cast["rev"], "POST", f"/articles/{article.id}/annotations",
              json={"revision": 1, "quote": QUOTE, "comment": "Source?", "blocking": True}).get_json()
    assert api(cast["rev"], "POST", f"/articles/{article.id}/decisions",
               json={"revision": 1, "decision": "request_changes", "password": PASSWORD,
                     "comment": "Needs a source."}).status_code == 201
    _error(api(cast["writer"], "POST", f"/annotations/{ann['id']}/resolve"), 403, "forbidden")
    message = _error(api(cast["writer"], "POST", f"/articles/{article.id}/submit"), 409, "invalid_state")
    assert "new revision" in message
    assert api(cast["writer"], "GET", f"/articles/{article.id}").get_json()["state"] == "changes_requested"
    saved = api(cast["writer"], "POST", f"/articles/{article.id}/revisions",
                json={"title": "Eczema in winter", "body": BODY + "\nSource: AAD 2024.\n", "base_revision": 1})
    assert saved.status_code == 201 and saved.get_json()["state"] == "changes_requested"
    resubmitted = api(cast["writer"], "POST", f"/articles/{article.id}/submit")
    assert resubmitted.status_code == 200 and resubmitted.get_json()["state"] == "in_review"
    # The blocking annotation followed the text and still blocks until its reviewer resolves it.
    _error(api(cast["rev"], "POST", f"/articles/{article.id}/decisions",
               json={"revision": 2, "decision": "approve", "password": PASSWORD, "checklist": CHECKLIST}),
           409, "invalid_state")
    assert api(cast["rev"], "POST", f"/annotations/{ann['id']}/resolve").status_code == 200
    assert api(cast["rev"], "POST", f"/articles/{article.id}/decisions",
               json={"revision": 2, "decision": "approve", "password": PASSWORD,
                     "checklist": CHECKLIST}).status_code == 201


def test_a_withdrawn_reviewer_acts_on_nothing(db, cast):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    ann = reviews.add_annotation(cast["rev"], article, 1, QUOTE, "Source?", blocking=False)
    reviews.withdraw_assignment(cast["editor"], article, reviews.policy.active_assignment(cast["rev"], article))
    db.session.commit()
    for act in (lambda: reviews.set_annotation_status(cast["rev"], ann, "resolved"),
                lambda: reviews.add_annotation(cast["rev"], article, 1, QUOTE, "More."),
                lambda: _approve(cast["rev"], article)):
        with pytest.raises(NotFound):
            act()
        db.session.rollback()


# Four eyes -------------------------------------------------------------------------------------------

def test_an_editor_who_reviewed_cannot_publish(api, cast, db):
    """The hole as found: an editor-reviewer assigned himself, approved and published alone."""
    solo = make_user("editor", "reviewer", name="Sol Oman")
    article = make_article(cast["writer"], "submitted")
    assert api(solo, "POST", f"/articles/{article.id}/assignments", json={"reviewer_id": solo.id}).status_code == 201
    assert api(solo, "POST", f"/articles/{article.id}/decisions",
               json={"revision": 1, "decision": "approve", "password": PASSWORD,
                     "checklist": CHECKLIST}).status_code == 201
    assert "never one of its signers" in _error(
        api(solo, "POST", f"/articles/{article.id}/publish", json={"revision": 1}), 403, "forbidden")
    published = api(cast["editor"], "POST", f"/articles/{article.id}/publish", json={"revision": 1})
    assert published.status_code == 201
    version = db.session.scalar(select(PublishedVersion))
    assert version.publisher_id == cast["editor"].id and {r.reviewer_id for r in version.reviews} == {solo.id}


# Refusal order ------------------------------------------------------------------------------------

def test_refusals_come_404_then_403_then_409(api, cast, db):
    """State is never told to someone who has no part (the hole: 409 before 403 leaked every state)."""
    draft = make_article(cast["writer"], "draft")
    decision = {"revision": 1, "decision": "approve", "password": PASSWORD, "checklist": CHECKLIST}
    _error(api(cast["writer2"], "POST", f"/articles/{draft.id}/decisions", json=decision), 404, "not_found")
    _error(api(cast["rev2"], "POST", f"/articles/{draft.id}/submit"), 404, "not_found")
    _error(api(cast["editor"], "POST", f"/articles/{draft.id}/decisions", json=decision), 403, "forbidden")
    _error(api(cast["editor"], "POST", f"/articles/{draft.id}/submit"), 403, "forbidden")
    _error(api(cast["writer"], "POST", f"/articles/{draft.id}/publish", json={"revision": 1}), 403, "forbidden")
    _error(api(cast["editor"], "POST", f"/articles/{draft.id}/publish", json={"revision": 1}), 409, "invalid_state")
    _error(api(cast["editor"], "POST", f"/articles/{draft.id}/unpublish", json={"reason": "x"}), 409,
           "invalid_state")


# Signing throttle ---------------------------------------------------------------------------------

def test_five_wrong_signing_passwords_pause_signing(api, cast, db, monkeypatch):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    url = f"/articles/{article.id}/decisions"
    body = {"revision": 1, "decision": "approve", "checklist": CHECKLIST}
    for _ in range(5):
        _error(api(cast["rev"], "POST", url, json={**body, "password": "Not-my-password-9"}), 401, "bad_password")
    failures = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "signature.failed")).all()
    assert len(failures) == 5 and all(e.actor_id == cast["rev"].id and e.article_id == article.id for e in failures)
    refused = api(cast["rev"], "POST", url, json={**body, "password": PASSWORD})
    _error(refused, 429, "too_many_attempts")
    assert 14 * 60 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert db.session.scalar(select(Decision.id)) is None
    later = utcnow() + timedelta(minutes=15, seconds=2)
    monkeypatch.setattr(reviews, "utcnow", lambda: later)
    assert api(cast["rev"], "POST", url, json={**body, "password": PASSWORD}).status_code == 201


def test_the_throttle_counts_failures_within_fifteen_minutes(db, cast, monkeypatch):
    """Four failures twenty minutes ago and one now are not five within fifteen minutes; four more now are."""
    now = utcnow()

    def fail_at(when) -> None:
        monkeypatch.setattr(chain, "utcnow", lambda: when)  # the clock record() reads
        audit.record("signature.failed", actor=cast["rev"], role="reviewer")
        db.session.commit()

    for minutes in (20, 19, 18, 17):
        fail_at(now - timedelta(minutes=minutes))
    fail_at(now)
    assert reviews.signing_locked_for(cast["rev"], now) == 0
    for _ in range(3):
        fail_at(now)
    assert reviews.signing_locked_for(cast["rev"], now) == 0, "four within the window"
    fail_at(now)
    assert reviews.signing_locked_for(cast["rev"], now) == 15 * 60
    assert reviews.signing_locked_for(cast["rev"], now + timedelta(minutes=15, seconds=1)) == 0
    assert reviews.signing_locked_for(cast["rev2"], now) == 0, "one reviewer's failures do not lock another"


# Control characters ---------------------------------------------------------------------------------

@pytest.mark.parametrize("title, body", [("Eczema\r\nBcc: everyone@example.org", BODY), ("Tab\there", BODY),
                                         ("Bell\x07", BODY), ("Fine", BODY + "\x00"), ("Fine", BODY + "\x1b[31m")])
def test_control_characters_are_refused(api, cast, db, title, body):
    api(cast["writer"], "GET", "/me")
    before = event_count()
    _error(api(cast["writer"], "POST", "/articles", json={"title": title, "body": body}), 400, "invalid_input")
    assert event_count() == before and db.session.scalar(select(Article.id)) is None


def test_bodies_keep_tabs_and_line_breaks(api, cast):
    response = api(cast["writer"], "POST", "/articles", json={"title": "Fine", "body": "One\r\n\tTwo\rThree\n"})
    assert response.status_code == 201


def test_control_characters_in_names_and_reasons(app, db, cast):
    with pytest.raises(InvalidInput):
        accounts.create_user(None, "x@example.org", "Mallory\nAdmin", PASSWORD, ["writer"])
    db.session.rollback()
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    with pytest.raises(InvalidInput):
        publishing.unpublish_article(cast["editor"], article, "Withdrawn\r\nX-Injected: yes")
    db.session.rollback()
    with pytest.raises(InvalidInput):
        articles.save_revision(cast["writer"], article, "Title", BODY, 1, "note\nwith a break")


# Concurrency: the row lock --------------------------------------------------------------------------

def _in_threads(app, jobs) -> list[BaseException]:
    """Run each job in its own thread, app context and database session, all released at once."""
    barrier, errors = threading.Barrier(len(jobs)), []

    def run(job) -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                job()
                db.session.remove()
        except BaseException as exc:  # collected for the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a transition deadlocked"
    return errors


def _sign_in_thread(reviewer_id: int, article_id: int):
    def job() -> None:
        reviewer = db.session.get(User, reviewer_id, options=with_roles())
        article = db.session.get(Article, article_id)
        reviews.sign_decision(reviewer, article, 1, "approve", PASSWORD, checklist=CHECKLIST)
        db.session.commit()
    return job


@pytest.mark.real_commits  # threads with sessions of their own
@pytest.mark.allow_lazy_load
def test_simultaneous_approvals_end_approved(app, db, cast):
    """Three reviewers approve at the same moment, several times over: every decision is recorded and
    the article ends approved (without the lock, each decided the state without the others)."""
    reviewers = [cast["rev"], cast["rev2"], make_user("reviewer", name="Third Reviewer")]
    for _ in range(4):
        article = make_article(cast["writer"], "submitted")
        for r in reviewers:
            reviews.assign_reviewer(cast["editor"], article, r.id)
        db.session.commit()
        errors = _in_threads(app, [_sign_in_thread(r.id, article.id) for r in reviewers])
        assert errors == []
        db.session.expire_all()
        assert db.session.get(Article, article.id).state == "approved"
        assert len(db.session.scalars(select(Decision).where(Decision.article_id == article.id)).all()) == 3
    assert audit.verify(record_result=False).ok


@pytest.mark.real_commits  # threads with sessions of their own
@pytest.mark.allow_lazy_load
def test_simultaneous_approval_and_save_never_approve_an_unreviewed_revision(app, db, cast):
    for _ in range(4):
        article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
        writer_id = cast["writer"].id

        def save(article_id=article.id, writer_id=writer_id) -> None:
            writer = db.session.get(User, writer_id, options=with_roles())
            a = db.session.get(Article, article_id)
            articles.save_revision(writer, a, a.title, BODY + "\nLate change.\n", 1, "Late")
            db.session.commit()

        errors = _in_threads(app, [_sign_in_thread(cast["rev"].id, article.id), save])
        assert all(isinstance(e, Conflict) for e in errors), errors  # the loser may be told it lost
        db.session.expire_all()
        a = db.session.get(Article, article.id)
        if a.state == "approved":
            assert a.current_revision == 1, "approved, yet the current revision was never signed"
        else:
            assert a.current_revision == 2 and a.state == "in_review"
            with pytest.raises(Conflict):
                publishing.publish_revision(cast["editor"], a, 2)
            db.session.rollback()
    assert audit.verify(record_result=False).ok


def test_withdrawing_the_last_holdout_completes_a_rereview(db, cast):
    """The republish of a completed re-review belongs to the workflow, whoever completes it."""
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    reviews.assign_reviewer(cast["editor"], article, cast["rev2"].id)
    _approve(cast["rev"], article)
    db.session.commit()
    assert article.state == "in_review"
    reviews.withdraw_assignment(cast["editor"], article, reviews.policy.active_assignment(cast["rev2"], article))
    db.session.commit()
    assert article.state == "published" and article.live_version == 2
    assert _signers(publishing.live_version_of(article)) == {"Dana Okafor"}


def test_nobody_reviews_what_they_wrote(db, cast):
    both = make_user("writer", "reviewer", name="Wynn Both")
    article = make_article(both, "submitted")
    with pytest.raises(ReviewerUnavailable, match="wrote this article"):
        reviews.assign_reviewer(cast["editor"], article, both.id)
