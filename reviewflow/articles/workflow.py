"""The whole lifecycle of an article on one screen.

    draft -> submitted -> in_review <-> changes_requested
                          in_review -> approved -> published -> (revise) draft …

``TRANSITIONS`` is the table: name, from-states, to-state (a state, or a function of the
article for the computed ones), the policy rule it needs, its button label, its guard and
its effect. ``check`` takes the article's row lock and then refuses in the order of
PRODUCT.md: 404 for someone who cannot see the article, 403 for someone with no part in
the action whatever the state, 409 for a state that does not allow it, then the
transition's own guard. ``apply`` (which checks first, unless this unit of work already
did) runs the transition's effect, sets the state and stamps, records one audit event and
flushes; it never commits, and it is the only code that assigns ``Article.state`` (a test
reads the code to prove it).

The state of an article under review is a function of its assignments and annotations
(``review_outcome``): every transition that can change them settles the state through it,
and a re-review that approves the live, unchanged text writes a new published version
through the hook that publishing registers (``on_rereviewed``), so no caller has to
remember to.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import event, inspect, select, text, update
from sqlalchemy.orm import Session

from reviewflow import policy
from reviewflow.articles.models import Article, ArticleState
from reviewflow.audit import services as audit
from reviewflow.audit.actions import AuditAction
from reviewflow.errors import Conflict, NotFound, StaleRevision
from reviewflow.extensions import db, utcnow
from reviewflow.reviews.models import Annotation, AssignmentStatus, ReviewAssignment
from reviewflow.sources.status import unsupported

S = ArticleState
ALL = frozenset(S)
LIVE_STATES = frozenset({S.PUBLISHED, S.UNPUBLISHED})
A = AssignmentStatus

# Locks -------------------------------------------------------------------------------------------

#: Where ``lock`` and ``check`` remember what this unit of work already did (forgotten at its end).
LOCKED_KEY, CHECKED_KEY = "reviewflow.workflow.locked", "reviewflow.workflow.checked"


@event.listens_for(Session, "after_transaction_end")
def _forget_locks(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(LOCKED_KEY, None)
        session.info.pop(CHECKED_KEY, None)


def lock(article: Article) -> Article:
    """Take the article's row lock for the rest of the transaction and reload it.

    PostgreSQL: ``SELECT … FOR UPDATE``; a concurrent transition on the same article waits
    here and then reads what the other committed. SQLite: a no-op UPDATE takes the database's
    write lock, which serialises writers the same way. Everything a transition decides from
    is read after this, so two approvals at once cannot both miss each other.
    """
    locked = db.session.info.setdefault(LOCKED_KEY, set())
    article_id = article.id  # read before expiring: reading it after would reload the row before the lock
    if article_id in locked:
        return article
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(text("UPDATE articles SET id = id WHERE id = :id"), {"id": article_id})
    db.session.flush()
    db.session.execute(select(Article.id).where(Article.id == article_id).with_for_update())
    # What was read before the lock may be stale: expired objects are refreshed when next read.
    db.session.expire(article)
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, ReviewAssignment | Annotation) and inspect(obj).dict.get("article_id") == article_id:
            db.session.expire(obj)
    db.session.info.pop(policy.MEMO_KEY, None)
    locked.add(article_id)
    return article


# What the state is made of -----------------------------------------------------------------------

def active_assignments(article: Article) -> list[ReviewAssignment]:
    """The article's assignments that are not withdrawn, fresh from the database."""
    return list(db.session.scalars(
        select(ReviewAssignment)
        .where(ReviewAssignment.article_id == article.id, ReviewAssignment.status != A.WITHDRAWN)
        .order_by(ReviewAssignment.id)
    ))


def open_blocking(article: Article) -> list[Annotation]:
    """Open blocking annotations of the article, orphaned ones included: each blocks approval."""
    return list(db.session.scalars(
        select(Annotation).where(Annotation.article_id == article.id, Annotation.status == "open",
                                 Annotation.blocking.is_(True)).order_by(Annotation.id)
    ))


def review_outcome(article: Article) -> S:
    """changes_requested while any assignment is; approved when every active assignment
    approved the current revision, no blocking annotation is open and every cited source has a
    standing ``supports``; else in_review. With no active reviewer left, the article waits for
    one (submitted)."""
    assignments = active_assignments(article)
    if not assignments:
        return S.SUBMITTED
    if any(a.status == A.CHANGES_REQUESTED for a in assignments):
        return S.CHANGES_REQUESTED
    if all(a.status == A.APPROVED and a.status_revision == article.current_revision for a in assignments) \
            and not open_blocking(article) and not unsupported(article, {a.reviewer_id for a in assignments}):
        return S.APPROVED
    return S.IN_REVIEW


#: Set by publishing: ``live_revision(article) -> int | None`` (the revision readers see) and
#: ``republish(actor, article, role) -> version`` (writes the version of a completed re-review).
REREVIEW_HOOKS: dict[str, Callable] = {}


def on_rereviewed(live_revision: Callable, republish: Callable) -> None:
    """Publishing registers how to read the live revision and write a re-reviewed version."""
    REREVIEW_HOOKS.update(live_revision=live_revision, republish=republish)


def _rereview_complete(article: Article, outcome: S) -> bool:
    """A re-review of the live text ends approved: the article goes back to published, as a new version."""
    if outcome != S.APPROVED or article.live_version is None:
        return False
    return REREVIEW_HOOKS["live_revision"](article) == article.current_revision


def _settle(article: Article) -> S:
    """The state an article under review is in, given its assignments and annotations now."""
    state = S(article.state)
    if state not in S.UNDER_REVIEW:
        return state
    outcome = review_outcome(article)
    return S.PUBLISHED if _rereview_complete(article, outcome) else outcome


# Targets and effects -----------------------------------------------------------------------------

def _reset_assignments(article: Article, statuses=(A.APPROVED, A.CHANGES_REQUESTED, A.PENDING)) -> list[str]:
    """Put the active assignments back to pending: the approvals given no longer count.
    Returns the names of the reviewers whose approval was voided."""
    voided = [a.reviewer.name for a in active_assignments(article) if a.status == A.APPROVED]
    db.session.execute(update(ReviewAssignment).where(
        ReviewAssignment.article_id == article.id, ReviewAssignment.status.in_([s.value for s in statuses]),
    ).values(status=A.PENDING.value, status_revision=None).execution_options(synchronize_session="fetch"))
    return voided


def _after_revise(article: Article) -> S:
    state = S(article.state)
    if state in (S.IN_REVIEW, S.APPROVED):
        return S.IN_REVIEW
    if state in LIVE_STATES:
        return S.DRAFT
    return state


def _revise_effect(article: Article, details: dict) -> None:
    """Any change to content under review voids its approvals."""
    if S(article.state) in (S.IN_REVIEW, S.APPROVED):
        details["approvals_voided"] = _reset_assignments(article)


def _submit_effect(article: Article, details: dict) -> None:
    """Submitting asks every active reviewer afresh."""
    _reset_assignments(article)


def _after_submit(article: Article) -> S:
    return S.IN_REVIEW if active_assignments(article) else S.SUBMITTED


def _assign_effect(article: Article, details: dict) -> None:
    """Assigning to a published article starts a re-review: earlier approvals do not count for it."""
    if S(article.state) == S.PUBLISHED:
        details["rereview"] = True
        details["approvals_voided"] = _reset_assignments(article)


def _after_assign(article: Article) -> S:
    return S.IN_REVIEW if S(article.state) in (S.SUBMITTED, S.APPROVED, S.PUBLISHED) else S(article.state)


def _after_unpublish(article: Article) -> S:
    return S.UNPUBLISHED if S(article.state) == S.PUBLISHED else S(article.state)


# Guards ------------------------------------------------------------------------------------------

def _must_be_live(article: Article, **_) -> None:
    if article.live_version is None:
        raise Conflict("This article is not published, so there is nothing to unpublish.")


def _must_have_live_version(article: Article, **_) -> None:
    if article.live_version is None:
        raise Conflict("This article has no live version, so it has no live source to flag.")


def _must_be_current(article: Article, revision=None, **_) -> None:
    """Decisions and publishing pin the exact revision: the current one."""
    if revision is None or revision.number != article.current_revision:
        number = getattr(revision, "number", "?")
        raise StaleRevision(f"Revision {number} is not the current revision ({article.current_revision}). "
                            "Nothing was done: reload and act on the current revision.")


def _must_have_new_revision(article: Article, **_) -> None:
    """After a request for changes, only a new revision can be submitted again."""
    if S(article.state) != S.CHANGES_REQUESTED:
        return
    if any(a.status == A.CHANGES_REQUESTED and (a.status_revision or 0) >= article.current_revision
           for a in active_assignments(article)):
        raise Conflict("Changes were requested on this revision. Save a new revision that addresses them "
                       "before submitting again.")


def _must_be_base(article: Article, base_revision=None, **_) -> None:
    """A revision is saved on top of the current one, never over a newer one."""
    if base_revision != article.current_revision:
        raise StaleRevision(f"Revision {article.current_revision} was saved after the revision {base_revision} you "
                            "edited. Nothing was saved: open the latest revision and apply your changes there.")


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
    #: Changes the transition makes besides the state, owned here so no caller forgets them.
    effect: Callable[[Article, dict], None] | None = None
    #: The keyword of ``check`` whose object the policy rule is asked about (default: the article).
    subject: str | None = None
    #: Drawn as a plain button on the article page (others have their own forms).
    button: bool = False


TRANSITIONS: dict[str, Transition] = {t.name: t for t in [
    Transition("revise", ALL, _after_revise, "article.edit", "Save revision", AuditAction.REVISION_SAVED,
               guard=_must_be_base, effect=_revise_effect),
    Transition("submit", frozenset({S.DRAFT, S.CHANGES_REQUESTED}), _after_submit, "article.submit",
               "Submit for review", AuditAction.ARTICLE_SUBMITTED, button=True, guard=_must_have_new_revision,
               effect=_submit_effect, confirm="Submit this revision for medical review?"),
    Transition("assign", ALL - {S.UNPUBLISHED}, _after_assign, "review.assign", "Assign reviewer",
               AuditAction.REVIEWER_ASSIGNED, effect=_assign_effect),
    Transition("withdraw", ALL, _settle, "review.assign", "Withdraw", AuditAction.REVIEWER_WITHDRAWN,
               confirm="Withdraw this reviewer? Their pending review ends.", danger=True),
    Transition("decide", frozenset({S.IN_REVIEW, S.CHANGES_REQUESTED}), _settle, "article.decide",
               "Sign decision", AuditAction.DECISION_SIGNED, guard=_must_be_current),
    Transition("publish", frozenset({S.APPROVED}), S.PUBLISHED, "article.publish", "Publish…",
               AuditAction.ARTICLE_PUBLISHED, danger=True, guard=_must_be_current),
    Transition("unpublish", ALL, _after_unpublish, "article.unpublish", "Unpublish…", AuditAction.ARTICLE_UNPUBLISHED,
               danger=True, guard=_must_be_live),
    # Annotations change the state only through what "approved" means: no blocking annotation open.
    Transition("annotate", ALL, _settle, "annotation.create", "Annotate", AuditAction.ANNOTATION_ADDED),
    # A verdict on a source changes the state only through what "approved" means: every source supported.
    Transition("check_source", S.UNDER_REVIEW, _settle, "source.check", "Check source", AuditAction.SOURCE_CHECKED,
               guard=_must_be_current),
    Transition("flag_source", ALL - {S.UNPUBLISHED}, _settle, "source.flag", "Flag as outdated",
               AuditAction.SOURCE_FLAGGED, guard=_must_have_live_version),
    Transition("resolve", ALL, _settle, "annotation.resolve", "Resolve", AuditAction.ANNOTATION_RESOLVED,
               subject="annotation"),
    Transition("reopen", ALL, _settle, "annotation.resolve", "Reopen", AuditAction.ANNOTATION_REOPENED,
               subject="annotation"),
]}


def target_of(article: Article, transition: Transition) -> S:
    return transition.target(article) if callable(transition.target) else transition.target


def available_transitions(article: Article, user) -> list[Transition]:
    """The transitions this user may take on this article in its current state (for drawing buttons)."""
    return [t for t in TRANSITIONS.values()
            if t.subject is None and S(article.state) in t.sources and policy.can(user, t.rule, article)]


STATE_MESSAGES = {
    "submit": "Only a draft or an article with changes requested can be submitted; this one is {state}.",
    "decide": "Decisions are taken while the article is in review; this one is {state}.",
    "publish": "Only an approved revision can be published; this article is {state}. Publishing needs every "
               "assigned reviewer's signed approval of the current revision.",
    "assign": "Reviewers cannot be assigned to an article that is {state}.",
    "check_source": "Sources are checked while the article is in review; this one is {state}.",
}


def check(article: Article, name: str, actor, *, lock_row: bool = True, **context) -> Transition:
    """May ``actor`` take transition ``name`` on ``article`` now? Raises if not; returns the transition.

    In this order: NotFound (404) when the actor cannot see the article; Forbidden (403) when
    the policy gives them no part in the action, whatever the state; Conflict (409) when the
    state does not allow it; then whatever the transition's guard raises (``context`` is passed
    to it). Takes the row lock first (``lock_row=False`` only for pages that just display).
    """
    transition = TRANSITIONS[name]
    if lock_row:
        lock(article)
    if not policy.can(actor, "article.view", article):
        raise NotFound("There is no article with that id.")
    policy.require(actor, transition.rule, context.get(transition.subject) if transition.subject else article)
    state = S(article.state)
    if state not in transition.sources:
        message = STATE_MESSAGES.get(name, "This cannot be done while the article is {state}.")
        raise Conflict(message.format(state=state.label.lower()))
    if transition.guard:
        transition.guard(article, **context)
    if lock_row:
        db.session.info.setdefault(CHECKED_KEY, set()).add((article.id, name, getattr(actor, "id", None)))
    return transition


def apply(article: Article, name: str, *, actor, role: str, revision=None, target=None,
          details: dict | None = None, action: str | None = None, **context):
    """Take transition ``name`` on ``article`` for ``actor``; returns the audit event.

    Checks first unless ``check`` already passed for it in this unit of work, runs the
    transition's effect, sets the state and stamps, records one audit event and flushes.
    When the state it reaches completes a re-review of the live text, the re-reviewed
    version is written too (its own event). Never commits.
    """
    transition = TRANSITIONS[name]
    if (article.id, name, getattr(actor, "id", None)) not in db.session.info.get(CHECKED_KEY, set()):
        check(article, name, actor, revision=revision, **context)
    details = dict(details or {})
    before = S(article.state)
    if transition.effect:
        transition.effect(article, details)
    db.session.flush()
    after = target_of(article, transition)
    article.state = after.value
    article.updated_at = utcnow()
    db.session.flush()
    recorded = audit.record(
        action or transition.action, actor=actor, role=role, target=target or article, article=article,
        revision=revision or article.revision, before=before.value, after=after.value, details=details,
    )
    if hasattr(target, "audit_seq"):  # a signed decision points at the event that proves it
        target.audit_seq = recorded.seq
        db.session.flush()
    if after == S.PUBLISHED and before in S.UNDER_REVIEW and name != "publish":
        REREVIEW_HOOKS["republish"](actor, article, role)
    return recorded
