"""The whole lifecycle of an article on one screen.

    draft -> submitted -> in_review <-> changes_requested
                          in_review -> approved -> published -> (revise) draft …

``TRANSITIONS`` is the table: name, from-states, to-state (a state, or a function of
the article for the few computed ones), the policy rule it needs, its button label.
``apply`` is the only code that assigns ``Article.state`` (a test checks it): it checks
the state (409), asks the policy (403), runs the transition's guard, sets the state,
records one audit event and flushes. It never commits.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from reviewflow import policy
from reviewflow.articles.models import Article, ArticleState
from reviewflow.audit import services as audit
from reviewflow.errors import Conflict
from reviewflow.extensions import db, utcnow
from reviewflow.reviews.models import Annotation, AssignmentStatus, ReviewAssignment

S = ArticleState
ALL = frozenset(S)
LIVE_STATES = frozenset({S.PUBLISHED, S.UNPUBLISHED})


def active_assignments(article: Article) -> list[ReviewAssignment]:
    return list(db.session.scalars(
        select(ReviewAssignment).where(
            ReviewAssignment.article_id == article.id, ReviewAssignment.status != AssignmentStatus.WITHDRAWN
        ).order_by(ReviewAssignment.id)
    ))


def open_blocking(article: Article) -> list[Annotation]:
    return list(db.session.scalars(
        select(Annotation).where(
            Annotation.article_id == article.id, Annotation.status == "open", Annotation.blocking.is_(True)
        )
    ))


def review_outcome(article: Article) -> S:
    """changes_requested while any assignment is; approved when every active assignment
    approved the current revision and no blocking annotation is open; else in_review.
    With no active reviewer left, the article waits for one (submitted)."""
    assignments = active_assignments(article)
    if not assignments:
        return S.SUBMITTED
    if any(a.status == AssignmentStatus.CHANGES_REQUESTED for a in assignments):
        return S.CHANGES_REQUESTED
    if all(a.status == AssignmentStatus.APPROVED and a.status_revision == article.current_revision
           for a in assignments) and not open_blocking(article):
        return S.APPROVED
    return S.IN_REVIEW


def _after_revise(article: Article) -> S:
    state = S(article.state)
    if state in (S.IN_REVIEW, S.APPROVED):
        return S.IN_REVIEW
    if state in LIVE_STATES:
        return S.DRAFT
    return state


def _after_submit(article: Article) -> S:
    return S.IN_REVIEW if active_assignments(article) else S.SUBMITTED


def _after_assign(article: Article) -> S:
    return S.IN_REVIEW if S(article.state) in (S.SUBMITTED, S.APPROVED, S.PUBLISHED) else S(article.state)


def _after_withdraw(article: Article) -> S:
    state = S(article.state)
    if state in (S.IN_REVIEW, S.CHANGES_REQUESTED, S.APPROVED):
        return review_outcome(article)
    return state


def _after_unpublish(article: Article) -> S:
    return S.UNPUBLISHED if S(article.state) == S.PUBLISHED else S(article.state)


def _must_be_live(article: Article, **_) -> None:
    if article.live_version is None:
        raise Conflict("This article is not published, so there is nothing to unpublish.")


def _must_pin_approved(article: Article, revision=None, **_) -> None:
    if revision is None or revision.number != article.current_revision:
        raise Conflict("Only the current, approved revision can be published.", code="stale_revision")


@dataclass(frozen=True)
class Transition:
    name: str
    sources: frozenset
    target: S | Callable[[Article], S]
    rule: str
    label: str
    action: str
    confirm: str | None = None
    danger: bool = False
    guard: Callable | None = None
    #: Drawn as a plain button on the article page (others have their own forms).
    button: bool = False


TRANSITIONS: dict[str, Transition] = {t.name: t for t in [
    Transition("revise", ALL, _after_revise, "article.edit", "Save revision", "revision.saved"),
    Transition("submit", frozenset({S.DRAFT, S.CHANGES_REQUESTED}), _after_submit, "article.submit",
               "Submit for review", "article.submitted", button=True,
               confirm="Submit this revision for medical review?"),
    Transition("assign", ALL - {S.UNPUBLISHED}, _after_assign, "review.assign", "Assign reviewer",
               "reviewer.assigned"),
    Transition("withdraw", ALL, _after_withdraw, "review.assign", "Withdraw", "reviewer.withdrawn",
               confirm="Withdraw this reviewer? Their pending review ends.", danger=True),
    Transition("decide", frozenset({S.IN_REVIEW, S.CHANGES_REQUESTED}), review_outcome, "article.decide",
               "Sign decision", "decision.signed"),
    Transition("publish", frozenset({S.APPROVED}), S.PUBLISHED, "article.publish", "Publish…",
               "article.published", danger=True, guard=_must_pin_approved),
    Transition("republish", frozenset({S.APPROVED}), S.PUBLISHED, "article.decide", "Re-review published",
               "article.rereviewed", guard=_must_pin_approved),
    Transition("unpublish", ALL, _after_unpublish, "article.unpublish", "Unpublish…", "article.unpublished",
               danger=True, guard=_must_be_live),
    # A blocking annotation added to (or reopened on) an approved article sends it back to review:
    # "approved" means no blocking annotation is open.
    Transition("block", frozenset({S.APPROVED}), review_outcome, "annotation.reply", "Block approval",
               "annotation.added"),
]}


def target_of(article: Article, transition: Transition) -> S:
    return transition.target(article) if callable(transition.target) else transition.target


def allowed_now(article: Article, name: str) -> bool:
    return S(article.state) in TRANSITIONS[name].sources


def available_transitions(article: Article, user) -> list[Transition]:
    """The transitions this user may take on this article in its current state."""
    return [t for t in TRANSITIONS.values()
            if S(article.state) in t.sources and policy.can(user, t.rule, article)]


STATE_MESSAGES = {
    "submit": "Only a draft or an article with changes requested can be submitted; this one is {state}.",
    "decide": "Decisions are taken while the article is in review; this one is {state}.",
    "publish": "Only an approved revision can be published; this article is {state}.",
    "republish": "Only an approved revision can be published; this article is {state}.",
    "assign": "Reviewers cannot be assigned to an article that is {state}.",
}


def apply(article: Article, name: str, *, actor, role: str, revision=None, target=None,
          details: dict | None = None, action: str | None = None, check_policy: bool = True):
    """Take transition ``name`` on ``article`` for ``actor``; returns the audit event.

    Raises Conflict (409) when the state does not allow it, Forbidden (403) when the
    policy refuses, and whatever the transition's guard raises. Flushes, never commits.
    """
    transition = TRANSITIONS[name]
    before = S(article.state)
    if before not in transition.sources:
        message = STATE_MESSAGES.get(name, "This cannot be done while the article is {state}.")
        raise Conflict(message.format(state=before.label.lower()))
    if check_policy:
        policy.require(actor, transition.rule, article)
    if transition.guard:
        transition.guard(article, revision=revision)
    db.session.flush()
    after = target_of(article, transition)
    article.state = after.value
    article.updated_at = utcnow()
    db.session.flush()
    return audit.record(
        action or transition.action, actor=actor, role=role, target=target or article, article=article,
        revision=revision or article.revision, before=before.value, after=after.value, details=details,
    )
