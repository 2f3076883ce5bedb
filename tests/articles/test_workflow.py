"""The lifecycle: every (state, transition) pair of the table, the save and submit rules,
separation of duties, and a Hypothesis state machine of random actions by random people.

The expected outcome of each pair is written out below from PRODUCT.md, independently of
``workflow.TRANSITIONS``; the walk drives the real services (the same ones the pages and
the API call) and checks the state, the audit event and, for refusals, that nothing changed.
"""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import func, select

import reviewflow
from reviewflow.articles import services as articles
from reviewflow.articles import workflow
from reviewflow.articles.models import Article, ArticleState
from reviewflow.audit import services as audit
from reviewflow.audit.models import AuditEvent
from reviewflow.auth.models import User
from reviewflow.auth.services import with_roles
from reviewflow.errors import (
    BadPassword,
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    ReviewerUnavailable,
    settle_after_refusal,
)
from reviewflow.extensions import db
from reviewflow.publishing import services as publishing
from reviewflow.publishing.models import PublishedVersion
from reviewflow.reviews import services as reviews
from reviewflow.reviews.models import Annotation, Decision, ReviewAssignment
from tests.factories import (
    BODY,
    CHECKLIST,
    PASSWORD,
    empty_schema,
    event_count,
    events_after,
    last_seq,
    make_app,
    make_article,
    make_user,
    verify,
)

S = ArticleState
STATES = [s.value for s in S]

#: transition (as a person does it) -> {state before: state after}; a state not listed is refused (409).
EXPECTED: dict[str, dict[str, str]] = {
    "revise": {"draft": "draft", "submitted": "submitted", "in_review": "in_review",
               "changes_requested": "changes_requested", "approved": "in_review", "published": "draft",
               "unpublished": "draft"},
    "submit": {"draft": "submitted", "changes_requested": "in_review"},
    "assign": {"draft": "draft", "submitted": "in_review", "in_review": "in_review",
               "changes_requested": "changes_requested", "approved": "in_review", "published": "in_review"},
    "withdraw": {"draft": "draft", "submitted": "submitted", "in_review": "submitted",
                 "changes_requested": "submitted", "approved": "submitted", "published": "published",
                 "unpublished": "unpublished"},
    "approve": {"in_review": "approved", "changes_requested": "approved"},
    "request_changes": {"in_review": "changes_requested", "changes_requested": "changes_requested"},
    "publish": {"approved": "published"},
    "unpublish": {"published": "unpublished"},
}
#: Which row of workflow.TRANSITIONS each of the above exercises, and the audit action it logs.
TABLE_ROW = {"revise": "revise", "submit": "submit", "assign": "assign", "withdraw": "withdraw",
             "approve": "decide", "request_changes": "decide", "publish": "publish", "unpublish": "unpublish"}
#: Rows whose state follows from annotations (tests below): they refuse no state.
ANNOTATION_ROWS = {"annotate", "resolve", "reopen"}
#: Rows for sources, walked through every state by tests/sources/test_source_rules.py (they need a cited text).
SOURCE_ROWS = {"check_source", "flag_source"}
ACTION = {"revise": "revision.saved", "submit": "article.submitted", "assign": "reviewer.assigned",
          "withdraw": "reviewer.withdrawn", "approve": "decision.signed", "request_changes": "decision.signed",
          "publish": "article.published", "unpublish": "article.unpublished"}


def build(cast, state: str, for_move: str) -> Article:
    """An article in ``state``, walked there through the services, with what ``for_move`` needs."""
    w, rev, ed = cast["writer"], cast["rev"], cast["editor"]
    if state == "unpublished":
        article = make_article(w, "published", reviewer=rev, editor=ed)
        publishing.unpublish_article(ed, article, "Guidance changed.")
    else:
        article = make_article(w, state, reviewer=rev, editor=ed)
    if state == "changes_requested" and for_move == "submit":  # only a new revision can be resubmitted
        articles.save_revision(w, article, article.title, BODY + "\nAddressed.\n", article.current_revision, "Fix")
    if for_move in ("withdraw", "approve", "request_changes") and state == "draft":
        reviews.assign_reviewer(ed, article, rev.id)  # a draft keeps its state when a reviewer is assigned
    db.session.commit()
    return article


def move(cast, article: Article, name: str) -> None:
    """Take one transition the way a person does: through the service, as the right person."""
    w, ed, rev = cast["writer"], cast["editor"], cast["rev"]
    current = article.current_revision
    if name == "revise":
        articles.save_revision(w, article, article.title, BODY + "\nA new closing line.\n", current, "Update")
    elif name == "submit":
        articles.submit_article(w, article)
    elif name == "assign":
        reviews.assign_reviewer(ed, article, cast["rev2"].id)
    elif name == "withdraw":
        active = workflow.active_assignments(article)
        if active:
            reviews.withdraw_assignment(ed, article, active[0])
        else:  # a submitted article has no active reviewer by construction: take the edge directly
            workflow.apply(article, "withdraw", actor=ed, role="editor")
    elif name in ("approve", "request_changes"):
        reviews.sign_decision(rev, article, current, name, PASSWORD, comment="Please cite the guideline.",
                              checklist=CHECKLIST if name == "approve" else None)
    elif name == "publish":
        publishing.publish_revision(ed, article, current)
    elif name == "unpublish":
        publishing.unpublish_article(ed, article, "Outdated.")
    else:  # pragma: no cover
        raise AssertionError(name)


def _counts() -> dict:
    return {m.__name__: db.session.scalar(select(func.count()).select_from(m))
            for m in (AuditEvent, Decision, PublishedVersion, ReviewAssignment, Annotation)}


def test_expected_table_covers_every_transition():
    assert set(TABLE_ROW.values()) | ANNOTATION_ROWS | SOURCE_ROWS == set(workflow.TRANSITIONS)
    assert all(workflow.TRANSITIONS[n].sources == workflow.ALL for n in ANNOTATION_ROWS)
    for name, row in EXPECTED.items():
        sources = {s.value for s in workflow.TRANSITIONS[TABLE_ROW[name]].sources}
        assert set(row) <= sources, f"{name}: legal per PRODUCT.md but not per the table: {set(row) - sources}"
        assert set(row) <= set(STATES)


PAIRS = [(state, name) for name in EXPECTED for state in STATES]


@pytest.mark.parametrize("state, name", PAIRS, ids=[f"{s}-{n}" for s, n in PAIRS])
def test_transition_table(db, cast, state, name):
    article = build(cast, state, name)
    assert article.state == state
    before, seq = _counts(), last_seq()
    target = EXPECTED[name].get(state)
    if state == "submitted" and name in ("approve", "request_changes"):
        # A submitted article has no reviewer by definition (assigning one makes it in_review), so no
        # reviewer can even see it: the refusal is 404, before any question of state.
        with pytest.raises(NotFound):
            move(cast, article, name)
        db.session.rollback()
        assert _counts() == before
    elif target is None:
        with pytest.raises(Conflict) as refused:
            move(cast, article, name)
        assert refused.value.status == 409 and refused.value.code == "invalid_state"
        db.session.rollback()
        db.session.expire_all()
        assert db.session.get(Article, article.id).state == state
        assert _counts() == before, "a refused transition changed nothing"
    else:
        move(cast, article, name)
        db.session.commit()
        db.session.expire_all()
        assert db.session.get(Article, article.id).state == target
        events = events_after(seq)
        assert [e.action for e in events] == [ACTION[name]], "exactly one audit event"
        assert (events[0].before_state, events[0].after_state) == (state, target)
        assert events[0].article_id == article.id
    assert audit.verify(record_result=False).ok


def test_blocking_annotation_on_an_approved_article_sends_it_back_to_review(db, cast):
    article = make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    seq = last_seq()
    ann = reviews.add_annotation(cast["rev"], article, 1, "Cold air", "Second thoughts: cite this.", blocking=True)
    db.session.commit()
    assert article.state == "in_review"
    assert [(e.action, e.before_state, e.after_state) for e in events_after(seq)] == [
        ("annotation.added", "approved", "in_review")]
    with pytest.raises(Conflict):
        publishing.publish_revision(cast["editor"], article, 1)
    db.session.rollback()
    with pytest.raises(Forbidden):  # a blocking annotation is the reviewer's to resolve, not the writer's
        reviews.set_annotation_status(cast["writer"], ann, "resolved")
    db.session.rollback()
    seq = last_seq()
    reviews.set_annotation_status(cast["rev"], ann, "resolved")  # the approval given still stands
    db.session.commit()
    assert article.state == "approved"
    assert [(e.action, e.after_state) for e in events_after(seq)] == [("annotation.resolved", "approved")]

    seq = last_seq()
    reviews.set_annotation_status(cast["rev"], ann, "open")  # reopening it blocks again
    db.session.commit()
    assert article.state == "in_review"
    assert [(e.action, e.after_state) for e in events_after(seq)] == [("annotation.reopened", "in_review")]


def test_suggestion_on_an_approved_article_keeps_it_approved(db, cast):
    article = make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    reviews.add_annotation(cast["rev"], article, 1, "Cold air", "Nice opening.", blocking=False)
    db.session.commit()
    assert article.state == "approved"


def test_unpublish_is_allowed_while_an_update_is_drafted(db, cast):
    """A published article being revised is a draft with a live version: it can still be taken down."""
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    articles.save_revision(cast["writer"], article, article.title, BODY + "\nMore.\n", 1, "Update")
    db.session.commit()
    assert article.state == "draft" and article.live_version == 1
    seq = last_seq()
    publishing.unpublish_article(cast["editor"], article, "Recalled.")
    db.session.commit()
    assert article.state == "draft" and article.live_version is None
    assert [e.action for e in events_after(seq)] == ["article.unpublished"]


# "Article.state is assigned nowhere else" --------------------------------------------------------

PACKAGE = Path(reviewflow.__file__).resolve().parent
ALLOWED = {("articles/workflow.py", "apply"), ("articles/services.py", "create_article")}


def _state_writes(path: Path) -> list[tuple[str, int, str]]:
    """Every place in a module that writes an attribute, keyword or column named ``state``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            targets = []
            if isinstance(child, ast.Assign):
                targets = child.targets
            elif isinstance(child, ast.AugAssign | ast.AnnAssign) and child.value is not None:
                targets = [child.target]
            for t in targets:
                for sub in ast.walk(t):
                    if isinstance(sub, ast.Attribute) and sub.attr == "state":
                        found.append((function, child.lineno, "attribute .state ="))
            if isinstance(child, ast.Call):
                callee = ast.unparse(child.func)
                for kw in child.keywords:
                    if kw.arg == "state" and (callee.endswith(("Article", "values", "update")) or
                                              "Article" in callee):
                        found.append((function, child.lineno, f"{callee}(state=...)"))
                if callee == "setattr" and len(child.args) >= 2 and isinstance(child.args[1], ast.Constant) \
                        and child.args[1].value == "state":
                    found.append((function, child.lineno, "setattr(..., 'state', ...)"))
                if callee.endswith("values") and any(isinstance(a, ast.Dict) and any(
                        isinstance(k, ast.Constant) and k.value == "state" for k in a.keys) for a in child.args):
                    found.append((function, child.lineno, "values({'state': ...})"))
            if isinstance(child, ast.Constant) and isinstance(child.value, str) and re.search(
                    r"\bSET\s+state\b", child.value, re.IGNORECASE):
                found.append((function, child.lineno, "raw SQL SET state"))
            visit(child, name)

    visit(tree, "<module>")
    return found


def test_article_state_is_assigned_nowhere_else():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for function, line, what in _state_writes(path):
            if (rel, function) not in ALLOWED:
                offenders.append(f"reviewflow/{rel}:{line} in {function}: {what}")
    assert offenders == [], "Article.state may only be set by workflow.apply:\n" + "\n".join(offenders)


def test_the_state_scan_finds_what_it_looks_for(tmp_path):
    """The scan above would catch the usual ways of writing the state."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def a(article):\n    article.state = 'approved'\n"
        "def b(s):\n    s.execute(update(Article).values(state='published'))\n"
        "def c(s):\n    s.execute(text('UPDATE articles SET state = 1'))\n"
        "def d(x):\n    setattr(x, 'state', 'draft')\n",
        encoding="utf-8")
    assert [f for f, _, _ in _state_writes(sample)] == ["a", "b", "c", "d"]
    assert ("articles/workflow.py", "apply") in {("articles/workflow.py", f) for f, _, _ in
                                                 _state_writes(PACKAGE / "articles" / "workflow.py")}


# Save-revision and submit rules ---------------------------------------------------------------

def _statuses(article) -> list[tuple[int, str, int | None]]:
    db.session.expire_all()
    return [(a.reviewer_id, a.status, a.status_revision) for a in workflow.active_assignments(article)]


def test_save_in_review_voids_given_approvals(db, cast):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    reviews.assign_reviewer(cast["editor"], article, cast["rev2"].id)
    reviews.sign_decision(cast["rev"], article, 1, "approve", PASSWORD, checklist=CHECKLIST)
    db.session.commit()
    assert article.state == "in_review"
    assert _statuses(article) == [(cast["rev"].id, "approved", 1), (cast["rev2"].id, "pending", None)]
    seq = last_seq()
    articles.save_revision(cast["writer"], article, article.title, BODY + "\nEdit.\n", 1, "Edit")
    db.session.commit()
    assert article.state == "in_review"
    assert _statuses(article) == [(cast["rev"].id, "pending", None), (cast["rev2"].id, "pending", None)]
    (event,) = events_after(seq)
    assert json.loads(event.details)["approvals_voided"] == ["Dana Okafor"]


def test_save_when_approved_goes_back_to_review(db, cast):
    article = make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    articles.save_revision(cast["writer"], article, "Eczema in winter, revised", BODY, 1, "Title change")
    db.session.commit()
    assert article.state == "in_review"
    assert _statuses(article) == [(cast["rev"].id, "pending", None)]
    with pytest.raises(Conflict):
        publishing.publish_revision(cast["editor"], article, 1)  # the approved revision is no longer current
    db.session.rollback()
    with pytest.raises(Conflict):
        publishing.publish_revision(cast["editor"], article, 2)
    db.session.rollback()
    reviews.sign_decision(cast["rev"], article, 2, "approve", PASSWORD, checklist=CHECKLIST)
    db.session.commit()
    assert article.state == "approved"


def test_save_when_published_drafts_an_update_and_the_public_page_keeps_the_published_text(db, cast, client):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    articles.save_revision(cast["writer"], article, "Eczema in winter: updated", BODY + "\nDRAFT TEXT\n", 1, "Upd")
    db.session.commit()
    assert article.state == "draft" and article.live_version == 1
    data = client.get(f"/api/v1/published/{article.slug}").get_json()
    assert data["title"] == "Eczema in winter" and data["revision"] == 1
    assert "DRAFT TEXT" not in data["body_html"]
    page = client.get(f"/articles/{article.slug}")
    assert page.status_code == 200
    assert "DRAFT TEXT" not in page.get_data(as_text=True)


def test_save_keeps_draft_submitted_and_changes_requested(db, cast):
    for state in ("draft", "submitted", "changes_requested"):
        article = make_article(cast["writer"], state, reviewer=cast["rev"], editor=cast["editor"],
                               title=f"Article {state}")
        before = _statuses(article)
        articles.save_revision(cast["writer"], article, article.title, BODY + "\nx\n", 1, "Edit")
        db.session.commit()
        assert article.state == state
        assert _statuses(article) == before  # only submitting resets a request for changes


def test_submit_with_an_assigned_reviewer_goes_straight_to_review(db, cast):
    article = make_article(cast["writer"], "draft")
    reviews.assign_reviewer(cast["editor"], article, cast["rev"].id)
    db.session.commit()
    assert article.state == "draft"
    articles.submit_article(cast["writer"], article)
    db.session.commit()
    assert article.state == "in_review"


def test_resubmission_puts_reviewers_back_to_pending(db, cast):
    article = make_article(cast["writer"], "changes_requested", reviewer=cast["rev"], editor=cast["editor"])
    articles.save_revision(cast["writer"], article, article.title, BODY + "\nSource: AAD.\n", 1, "Sources")
    articles.submit_article(cast["writer"], article)
    db.session.commit()
    assert article.state == "in_review"
    assert _statuses(article) == [(cast["rev"].id, "pending", None)]


def test_double_submission_is_refused(db, cast):
    article = make_article(cast["writer"], "submitted")
    seq = last_seq()
    with pytest.raises(Conflict):
        articles.submit_article(cast["writer"], article)
    db.session.rollback()
    assert last_seq() == seq and article.state == "submitted"


def test_double_approval_is_refused(db, cast):
    article = make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    seq = last_seq()
    with pytest.raises(Conflict):
        reviews.sign_decision(cast["rev"], article, 1, "approve", PASSWORD, checklist=CHECKLIST)
    db.session.rollback()
    assert last_seq() == seq
    assert db.session.scalar(select(func.count()).select_from(Decision)) == 1


# Separation of duties ---------------------------------------------------------------------------

def test_writer_who_is_also_a_reviewer_cannot_review_their_own_article(db, cast):
    both = make_user("writer", "reviewer", name="Sam Both")
    article = make_article(both, "submitted")
    seq = last_seq()
    with pytest.raises(ReviewerUnavailable) as refused:
        reviews.assign_reviewer(cast["editor"], article, both.id)
    assert refused.value.status == 409 and refused.value.code == "reviewer_unavailable"
    db.session.rollback()
    assert last_seq() == seq and article.state == "submitted"
    assert workflow.active_assignments(article) == []


def test_writer_reviewer_assignment_refused_through_the_api(db, cast, api):
    both = make_user("writer", "reviewer")
    article = make_article(both, "submitted")
    response = api(cast["editor"], "POST", f"/articles/{article.id}/assignments", json={"reviewer_id": both.id})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "reviewer_unavailable"


@pytest.mark.parametrize("who", ["expired", "inactive"])
def test_unavailable_reviewers_cannot_be_assigned(db, cast, who):
    reviewer = cast["expired"] if who == "expired" else make_user("reviewer")
    if who == "inactive":
        from reviewflow.auth import services as accounts

        accounts.update_user(cast["admin"], reviewer, active=False)
        db.session.commit()
    article = make_article(cast["writer"], "submitted")
    with pytest.raises(ReviewerUnavailable):
        reviews.assign_reviewer(cast["editor"], article, reviewer.id)


def test_editor_who_wrote_the_article_cannot_publish_it(db, cast):
    writer_editor = make_user("writer", "editor")
    article = make_article(writer_editor, "approved", reviewer=cast["rev"], editor=cast["editor"])
    seq = last_seq()
    with pytest.raises(Forbidden):
        publishing.publish_revision(writer_editor, article, 1)
    db.session.rollback()
    assert last_seq() == seq and article.state == "approved"
    publishing.publish_revision(cast["editor"], article, 1)
    db.session.commit()
    assert article.state == "published"


def test_expired_reviewer_cannot_sign(db, cast):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    from reviewflow.auth import services as accounts

    profile = {k: getattr(cast["rev"].profile, k) for k in accounts.PROFILE_FIELDS}
    accounts.save_profile(cast["admin"], cast["rev"], {**profile, "license_expires": "2020-01-01"})
    db.session.commit()
    verify(cast["rev"])
    with pytest.raises(ReviewerUnavailable, match="expired"):
        reviews.sign_decision(cast["rev"], article, 1, "approve", PASSWORD, checklist=CHECKLIST)
    db.session.rollback()
    assert article.state == "in_review"


# A state machine of random actions by random people ----------------------------------------------

PEOPLE = ["writer", "writer2", "editor", "admin", "rev", "rev2", "expired", "writer_reviewer"]
QUOTES = ["Cold air", "Moisturize within three minutes of bathing.", "cotton layers are gentler",
          "lukewarm showers"]
BODIES = [
    BODY,
    BODY.replace("Cold air", "Dry, cold air"),
    BODY.replace("Moisturize within three minutes of bathing.", "Apply a fragrance-free cream after bathing."),
    "Intro paragraph.\n\n" + BODY,
    BODY.replace("cotton layers are gentler", "soft layers help"),
]



def likely(*names: str):
    """Anyone, but half the time one of the people who can usually take this action."""
    return st.one_of(st.sampled_from(names), st.sampled_from(PEOPLE))


class WorkflowMachine(RuleBasedStateMachine):
    """Random actions on one article by random people, through the services.

    After every step the invariants of PRODUCT.md must hold, and every refused action must
    have left the audit trail and the article as they were.
    """

    #: One app and database for every example (building them per example would dominate the run time);
    #: each example makes its own people and article, so examples do not interfere.
    shared: dict = {}

    def __init__(self) -> None:
        super().__init__()
        if "app" not in self.shared:
            tmp = self.shared["tmp"] = tempfile.mkdtemp(prefix="rf-machine-")
            url = os.environ.get("REVIEWFLOW_TEST_DATABASE_URL") or f"sqlite:///{tmp}/machine.db"
            app = self.shared["app"] = make_app(url)
            with app.app_context():
                empty_schema()
        self.ctx = self.shared["app"].app_context()
        self.ctx.push()

    # Hypothesis favours the first values, so the busiest states come first.
    @initialize(start=st.sampled_from(["approved", "in_review", "published", "changes_requested", "submitted",
                                       "draft"]))
    def setup_people_and_article(self, start) -> None:
        """The people, and a new article in any starting state, walked there through the services.

        The people no rule changes are made once; the ones who can sign are new in every example: their
        wrong signing passwords are kept in the audit trail, and five of them, left by earlier examples,
        would pause their signing (then an example's outcome, replayed by Hypothesis, would depend on
        the ones run before it)."""
        if "ids" not in self.shared:
            self.shared["ids"] = {
                "writer": make_user("writer").id, "writer2": make_user("writer").id,
                "editor": make_user("editor").id, "admin": make_user("admin").id,
                "expired": make_user("reviewer", license_expires="2020-01-01").id,
            }
        self.ids = {**self.shared["ids"],
                    "rev": make_user("reviewer", specialty="Dermatology").id,
                    "rev2": make_user("reviewer", specialty="Pharmacology").id,
                    "writer_reviewer": make_user("writer", "reviewer").id}
        self.refusals = 0
        article = make_article(self.person("writer"), start, reviewer=self.person("rev"),
                               editor=self.person("editor"), topic="Dermatology")
        self.article_id = article.id

    def teardown(self) -> None:
        db.session.remove()
        self.ctx.pop()

    # helpers
    def person(self, name: str) -> User:
        return db.session.get(User, self.ids[name], options=with_roles(), populate_existing=True)

    @property
    def article(self) -> Article:
        return db.session.get(Article, self.article_id)

    def attempt(self, action, article: Article) -> None:
        """Run one action; commit it, or on refusal check that nothing changed."""
        events, state = event_count(), article.state
        try:
            action()
            db.session.commit()
        except DomainError as exc:
            settle_after_refusal(exc)
            db.session.expire_all()
            self.refusals += 1
            kept = ["signature.failed"] if isinstance(exc, BadPassword) else []
            assert [e.action for e in events_after(events)] == kept, "a refused action left only its own record"
            assert self.article.state == state, "a refused action changed the state"

    # rules: each loads the article once and hands the action to ``attempt``
    @rule(actor=likely("writer"), body=st.sampled_from(BODIES), stale=st.booleans())
    def save(self, actor, body, stale):
        a = self.article
        base = a.current_revision - 1 if stale and a.current_revision > 1 else a.current_revision
        self.attempt(lambda: articles.save_revision(self.person(actor), a, a.title, body, base, "Edit"), a)

    @rule(actor=likely("writer"))
    def submit(self, actor):
        a = self.article
        self.attempt(lambda: articles.submit_article(self.person(actor), a), a)

    @rule(actor=likely("editor"), reviewer=st.one_of(st.sampled_from(["rev", "rev2"]), st.sampled_from(PEOPLE)))
    def assign(self, actor, reviewer):
        a = self.article
        self.attempt(lambda: reviews.assign_reviewer(self.person(actor), a, self.ids[reviewer]), a)

    @rule(actor=likely("editor"), index=st.integers(0, 3))
    def withdraw(self, actor, index):
        a = self.article
        rows = list(db.session.scalars(select(ReviewAssignment).where(
            ReviewAssignment.article_id == a.id).order_by(ReviewAssignment.id)))
        if rows:
            row = rows[index % len(rows)]
            self.attempt(lambda: reviews.withdraw_assignment(self.person(actor), a, row), a)

    @rule(actor=likely("rev", "rev2"), quote=st.sampled_from(QUOTES), blocking=st.sampled_from([True, False]))
    def annotate(self, actor, quote, blocking):
        a = self.article
        self.attempt(lambda: reviews.add_annotation(self.person(actor), a, a.current_revision, quote,
                                                    "Please check this.", blocking), a)

    @rule(actor=likely("writer", "rev"), index=st.integers(0, 5), reopen=st.booleans())
    def resolve(self, actor, index, reopen):
        a = self.article
        rows = list(db.session.scalars(select(Annotation).where(Annotation.article_id == a.id)
                                       .order_by(Annotation.id)))
        if rows:
            ann = rows[index % len(rows)]
            status = "open" if reopen else "resolved"
            self.attempt(lambda: reviews.set_annotation_status(self.person(actor), ann, status), a)

    @rule(actor=likely("rev", "rev2"), decision=st.sampled_from(["approve", "approve", "request_changes"]),
          right_password=st.sampled_from([True, False]), stale=st.booleans())
    def decide(self, actor, decision, right_password, stale):
        a = self.article
        number = a.current_revision - 1 if stale and a.current_revision > 1 else a.current_revision

        def sign():
            person = self.person(actor)
            reviews.sign_decision(person, a, number, decision, PASSWORD if right_password else "Wrong-password-1",
                                  comment="Please add a source.", checklist=CHECKLIST)

        self.attempt(sign, a)

    @rule(actor=likely("editor"), stale=st.booleans())
    def publish(self, actor, stale):
        a = self.article
        number = a.current_revision - 1 if stale and a.current_revision > 1 else a.current_revision
        self.attempt(lambda: publishing.publish_revision(self.person(actor), a, number), a)

    @rule(actor=likely("editor"))
    def unpublish(self, actor):
        a = self.article
        self.attempt(lambda: publishing.unpublish_article(self.person(actor), a, "Under revision."), a)

    # invariants
    @invariant()
    def rules_of_the_lifecycle_hold(self):
        a = self.article
        assert a.state in STATES
        active = workflow.active_assignments(a)
        if a.state == S.APPROVED:
            assert active, "approved without a reviewer"
            assert all(x.status == "approved" and x.status_revision == a.current_revision for x in active), \
                [(x.status, x.status_revision, a.current_revision) for x in active]
            assert workflow.open_blocking(a) == [], "approved with a blocking annotation open"
        if a.state in (S.IN_REVIEW, S.CHANGES_REQUESTED):
            assert active, f"{a.state} without an active reviewer"
        if a.state == S.CHANGES_REQUESTED:
            assert any(x.status == "changes_requested" for x in active)
        if a.state == S.PUBLISHED:
            assert a.live_version is not None
        if a.state == S.UNPUBLISHED:
            assert a.live_version is None
        if a.live_version is not None:
            live = publishing.live_version_of(a)
            assert live is not None and live.reviews, "a live version rests on signed approvals"

    @invariant()
    def chain_holds(self):
        result = audit.verify(record_result=False)
        assert result.ok, result.reason
        assert db.session.scalar(select(func.max(AuditEvent.seq))) == result.count == event_count()


@pytest.fixture(scope="module", autouse=True)
def _machine_database_cleanup():
    yield
    shared = WorkflowMachine.shared
    if "app" in shared:
        with shared["app"].app_context():
            db.engine.dispose()
        shutil.rmtree(shared["tmp"], ignore_errors=True)
        shared.clear()


# The machine drives the services directly with people loaded one by one (not pages), so their
# roles and profiles load lazily, once per step: not the N+1 the guard is there to catch.
TestWorkflowMachine = pytest.mark.allow_lazy_load(WorkflowMachine.TestCase)
#: Small by default so the suite stays quick; REVIEWFLOW_MACHINE_EXAMPLES=500 explores deeper.
TestWorkflowMachine.settings = settings(max_examples=int(os.environ.get("REVIEWFLOW_MACHINE_EXAMPLES", "15")),
                                        stateful_step_count=20, deadline=None, database=None,
                                        suppress_health_check=[HealthCheck.too_slow,
                                                               HealthCheck.filter_too_much])
