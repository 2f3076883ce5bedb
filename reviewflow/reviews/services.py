"""Assigning reviewers, annotating revisions and signing decisions.

Every function takes the actor, asks the policy, flushes and never commits.
"""
from __future__ import annotations

import json
from datetime import date

from sqlalchemy import and_, func, select
from sqlalchemy.orm import selectinload

from reviewflow import policy
from reviewflow.articles import workflow
from reviewflow.articles.anchoring import context_of, locate
from reviewflow.articles.models import Article, ArticleState, Revision
from reviewflow.articles.services import get_revision
from reviewflow.audit import services as audit
from reviewflow.auth.models import ReviewerProfile, User, UserRole
from reviewflow.auth.services import check_password
from reviewflow.errors import BadPassword, Conflict, InvalidInput, NotFound, ReviewerUnavailable, StaleRevision
from reviewflow.extensions import db, utcnow
from reviewflow.notifications.services import notify, notify_role
from reviewflow.reviews.models import (
    MEANINGS,
    Annotation,
    AnnotationReply,
    AssignmentStatus,
    Decision,
    ReviewAssignment,
)

COMMENT_MAX = 5000
QUOTE_MAX = 1000


def _text(value, field: str, required: bool = True, limit: int = COMMENT_MAX) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"The {field} cannot be empty.", field=field)
    if len(value) > limit:
        raise InvalidInput(f"The {field} is longer than {limit:,} characters.", field=field)
    return value.strip()


def reviewer_unavailable_reason(reviewer: User | None, article: Article, today: date | None = None) -> str | None:
    """Why this person cannot review this article, or None when they can."""
    today = today or utcnow().date()
    if reviewer is None or not reviewer.has_role("reviewer"):
        return "This person is not a medical reviewer."
    if not reviewer.active:
        return f"{reviewer.name}'s account is inactive."
    if reviewer.id == article.writer_id:
        return f"{reviewer.name} wrote this article, and nobody reviews their own article."
    if reviewer.profile is None:
        return f"{reviewer.name} has no credential profile yet."
    if reviewer.profile.license_expires < today:
        return f"{reviewer.name}'s licence expired on {reviewer.profile.license_expires.isoformat()}."
    return None


def assign_reviewer(actor, article: Article, reviewer_id, due_date: date | None = None) -> ReviewAssignment:
    """Assign a reviewer (editors). A submitted article goes in_review; a published one starts a re-review.

    Raises ReviewerUnavailable (409) for the writer, inactive accounts and expired licences.
    """
    if not workflow.allowed_now(article, "assign"):
        workflow.apply(article, "assign", actor=actor, role="editor")  # raises the 409
    policy.require(actor, "review.assign", article)
    try:
        reviewer = (db.session.get(User, int(reviewer_id), options=(selectinload(User.role_rows),
                                                                    selectinload(User.profile)))
                    if 0 < int(reviewer_id) < 2**31 else None)
    except (TypeError, ValueError):
        raise InvalidInput("reviewer_id must be a person's id.", field="reviewer_id") from None
    if reviewer is None:
        raise InvalidInput("There is no person with that reviewer_id.", field="reviewer_id")
    reason = reviewer_unavailable_reason(reviewer, article)
    if reason:
        raise ReviewerUnavailable(reason + " Choose another reviewer.")
    if due_date is not None and due_date < utcnow().date():
        raise InvalidInput("The due date is in the past.", field="due_date")
    assignment = db.session.scalar(select(ReviewAssignment).where(
        ReviewAssignment.article_id == article.id, ReviewAssignment.reviewer_id == reviewer.id))
    if (assignment is not None and assignment.status != AssignmentStatus.WITHDRAWN
            and article.state != ArticleState.PUBLISHED):
        raise Conflict(f"{reviewer.name} is already assigned to this article.")
    if assignment is None:
        assignment = ReviewAssignment(article_id=article.id, reviewer_id=reviewer.id, assigned_by_id=actor.id)
        db.session.add(assignment)
    assignment.status, assignment.status_revision, assignment.withdrawn_at = AssignmentStatus.PENDING.value, None, None
    assignment.due_date, assignment.assigned_at, assignment.assigned_by_id = due_date, utcnow(), actor.id
    db.session.flush()
    rereview = article.state == ArticleState.PUBLISHED
    workflow.apply(article, "assign", actor=actor, role="editor", target=assignment, revision=article.revision,
                   details={"reviewer": reviewer.display_name, "reviewer_id": reviewer.id,
                            "due_date": due_date.isoformat() if due_date else None, "rereview": rereview})
    notify(reviewer, f"You were asked to {'re-review' if rereview else 'review'} “{article.title}”"
                     + (f" by {due_date.isoformat()}." if due_date else "."), f"/work/articles/{article.id}/review")
    return assignment


def get_assignment(article: Article, assignment_id) -> ReviewAssignment:
    try:
        key = int(assignment_id)
    except (TypeError, ValueError):
        raise NotFound("There is no such assignment.") from None
    assignment = db.session.get(ReviewAssignment, key) if 0 < key < 2**31 else None
    if assignment is None or assignment.article_id != article.id:
        raise NotFound("There is no such assignment on this article.")
    return assignment


def withdraw_assignment(actor, article: Article, assignment: ReviewAssignment) -> ReviewAssignment:
    """Withdraw a reviewer (editors); the article's state is reconciled with the remaining reviewers."""
    policy.require(actor, "review.assign", article)
    if assignment.status == AssignmentStatus.WITHDRAWN:
        raise Conflict(f"{assignment.reviewer.name} was already withdrawn from this article.")
    assignment.status, assignment.withdrawn_at = AssignmentStatus.WITHDRAWN.value, utcnow()
    db.session.flush()
    workflow.apply(article, "withdraw", actor=actor, role="editor", target=assignment,
                   details={"reviewer": assignment.reviewer.display_name, "reviewer_id": assignment.reviewer_id})
    return assignment


def add_annotation(actor, article: Article, revision_number, quote, comment, blocking=False,
                   prefix="", suffix="") -> Annotation:
    """Anchor a comment to quoted text of a revision (assigned reviewers).

    The quote must occur in the revision's text (InvalidInput otherwise); prefix and
    suffix pick among several occurrences and are then stored as found.
    """
    policy.require(actor, "annotation.create", article)
    rev = get_revision(article, revision_number)
    quote = _text(quote, "quote", limit=QUOTE_MAX)
    comment = _text(comment, "comment")
    if not isinstance(blocking, bool):
        raise InvalidInput("blocking must be true or false.", field="blocking")
    prefix, suffix = (prefix if isinstance(prefix, str) else ""), (suffix if isinstance(suffix, str) else "")
    start = locate(rev.body, quote, prefix, suffix)
    if start is None:
        start = locate(rev.title, quote)
        if start is None:
            raise InvalidInput("The quoted text is not in that revision. Select or type text exactly as it appears.",
                               field="quote")
        pre, suf = context_of(rev.title, start, quote)
    else:
        pre, suf = context_of(rev.body, start, quote)
    ann = Annotation(article_id=article.id, revision_number=rev.number, anchored_revision=rev.number, quote=quote,
                     prefix=pre, suffix=suf, position=start, comment=comment, blocking=blocking, author_id=actor.id)
    db.session.add(ann)
    db.session.flush()
    details = {"blocking": blocking, "comment": comment[:500]}
    if blocking and article.state == ArticleState.APPROVED:  # approval no longer holds: back to review
        workflow.apply(article, "block", actor=actor, role="reviewer", target=ann, revision=rev, details=details,
                       action="annotation.added")
    else:
        audit.record("annotation.added", actor=actor, role="reviewer", target=ann, article=article, revision=rev,
                     details=details)
    notify(article.writer, f"{actor.name} annotated “{article.title}”"
                           + (" (blocking)." if blocking else "."), f"/work/articles/{article.id}/review")
    return ann


def get_annotation(annotation_id) -> Annotation:
    try:
        key = int(annotation_id)
    except (TypeError, ValueError):
        raise NotFound("There is no such annotation.") from None
    ann = db.session.get(Annotation, key) if 0 < key < 2**31 else None
    if ann is None:
        raise NotFound("There is no such annotation.")
    return ann


def reply_to_annotation(actor, ann: Annotation, comment) -> AnnotationReply:
    """Add a reply to an annotation's thread (the article's staff)."""
    article = db.session.get(Article, ann.article_id)
    policy.require(actor, "annotation.reply", article)
    reply = AnnotationReply(annotation_id=ann.id, author_id=actor.id, comment=_text(comment, "comment"))
    db.session.add(reply)
    db.session.flush()
    audit.record("annotation.replied", actor=actor, role=_role_on(actor, article), target=ann, article=article,
                 details={"comment": reply.comment[:500], "reply_id": reply.id})
    for person in {ann.author, article.writer} - {actor}:
        notify(person, f"{actor.name} replied on “{article.title}”: {reply.comment[:80]}",
               f"/work/articles/{article.id}/review")
    return reply


def set_annotation_status(actor, ann: Annotation, status: str) -> Annotation:
    """Resolve or reopen an annotation (its reviewer or the article's writer)."""
    article = db.session.get(Article, ann.article_id)
    policy.require(actor, "annotation.resolve", ann)
    if ann.status == status:
        raise Conflict(f"This annotation is already {status}.")
    before = ann.status
    ann.status = status
    ann.resolved_at, ann.resolved_by_id = (utcnow(), actor.id) if status == "resolved" else (None, None)
    db.session.flush()
    action = f"annotation.{'resolved' if status == 'resolved' else 'reopened'}"
    if status == "open" and ann.blocking and article.state == ArticleState.APPROVED:  # back to review
        workflow.apply(article, "block", actor=actor, role=_role_on(actor, article), target=ann,
                       details={"annotation": [before, status]}, action=action)
    else:
        audit.record(action, actor=actor, role=_role_on(actor, article), target=ann, article=article,
                     before=before, after=status)
    return ann


def annotations_of(article: Article) -> list[Annotation]:
    return list(db.session.scalars(select(Annotation).where(Annotation.article_id == article.id)
                                   .order_by(Annotation.status, Annotation.id)))


def _role_on(actor, article: Article) -> str:
    if actor.id == article.writer_id:
        return "writer"
    if policy.active_assignment(actor, article):
        return "reviewer"
    return "editor" if actor.has_role("editor") else ("admin" if actor.has_role("admin") else "")


def sign_decision(actor, article: Article, revision_number, decision, password, comment=None,
                  checklist: list[str] | None = None) -> Decision:
    """Sign a decision on the current revision: an electronic signature.

    Order of refusals: not in review (409), not assigned (403), not the current revision
    (409 stale_revision), wrong password (401 bad_password), expired licence (409),
    approval with a blocking annotation open (409), request for changes without a comment (400).
    """
    if decision not in MEANINGS:
        raise InvalidInput("decision must be \"approve\" or \"request_changes\".", field="decision")
    if not workflow.allowed_now(article, "decide"):
        workflow.apply(article, "decide", actor=actor, role="reviewer")  # raises the 409
    policy.require(actor, "article.decide", article)
    if isinstance(revision_number, bool) or not isinstance(revision_number, int | str):
        raise InvalidInput("revision must be a revision number.", field="revision")
    rev = get_revision(article, revision_number)
    if rev.number != article.current_revision:
        raise StaleRevision(f"Revision {rev.number} is not the current revision ({article.current_revision}); "
                            "decisions are taken on the current revision. Nothing was signed.")
    if not isinstance(password, str) or not check_password(actor, password):
        raise BadPassword("Signing needs your password, and the one entered is not right. Nothing was signed.")
    profile: ReviewerProfile | None = actor.profile
    if profile is None:
        raise ReviewerUnavailable("You have no credential profile, so you cannot sign. Ask an admin to add it.")
    if profile.license_expires < utcnow().date():
        raise ReviewerUnavailable(f"Your licence expired on {profile.license_expires.isoformat()}, so you cannot "
                                  "sign. Ask an admin to record your renewed licence. Nothing was signed.")
    comment = _text(comment, "comment", required=decision == "request_changes")
    if decision == "approve" and workflow.open_blocking(article):
        raise Conflict("A blocking annotation is still open. It must be resolved before approval. Nothing was signed.")
    items = [c for c in (checklist or []) if isinstance(c, str)]
    assignment = policy.active_assignment(actor, article)
    signed = Decision(
        article_id=article.id, assignment_id=assignment.id, reviewer_id=actor.id, profile_id=profile.id,
        decision=decision, revision_number=rev.number, content_hash=rev.content_hash, printed_name=actor.name,
        credentials=profile.credentials, specialty=profile.specialty, license_number=profile.license_number,
        license_expires=profile.license_expires, meaning=MEANINGS[decision], comment=comment,
        checklist=json.dumps(items), signed_at=utcnow(),
    )
    db.session.add(signed)
    db.session.flush()
    approved = decision == "approve"
    assignment.status = (AssignmentStatus.APPROVED if approved else AssignmentStatus.CHANGES_REQUESTED).value
    assignment.status_revision, assignment.decision_id = rev.number, signed.id
    event = workflow.apply(article, "decide", actor=actor, role="reviewer", revision=rev, target=signed,
                           details={"decision": decision, "signer": actor.name, "credentials": profile.credentials,
                                    "specialty": profile.specialty, "license_number": profile.license_number,
                                    "license_expires": profile.license_expires.isoformat(),
                                    "profile_version": profile.version, "meaning": signed.meaning,
                                    "comment": comment[:500], "checklist": items},
                           action="decision.signed")
    signed.audit_seq = event.seq
    if decision == "request_changes":
        notify(article.writer, f"{actor.display_name} requested changes to “{article.title}”.",
               f"/work/articles/{article.id}")
    elif article.state == ArticleState.APPROVED:
        notify(article.writer, f"“{article.title}” revision {rev.number} is approved.", f"/work/articles/{article.id}")
        notify_role("editor", f"“{article.title}” revision {rev.number} is approved and ready to publish.",
                    f"/work/articles/{article.id}/publish", exclude=article.writer)
    return signed


def approvals_behind(article: Article, revision_number: int) -> list[Decision]:
    """The approval decisions of the active assignments on this revision: what a publish rests on."""
    return list(db.session.scalars(
        select(Decision).join(ReviewAssignment, and_(ReviewAssignment.decision_id == Decision.id))
        .where(ReviewAssignment.article_id == article.id, ReviewAssignment.status == AssignmentStatus.APPROVED,
               Decision.revision_number == revision_number, Decision.decision == "approve")
        .order_by(Decision.signed_at)
    ))


def decisions_of(article: Article) -> list[Decision]:
    return list(db.session.scalars(select(Decision).where(Decision.article_id == article.id).order_by(Decision.id)))


def suggested_reviewers(article: Article) -> list[dict]:
    """Every active reviewer with their current profile and open workload; specialty matches first.

    Each row says whether they can serve and, if not, why. Two queries whatever the data size.
    """
    workload = (select(ReviewAssignment.reviewer_id, func.count().label("n"))
                .join(Article, Article.id == ReviewAssignment.article_id)
                .where(ReviewAssignment.status == AssignmentStatus.PENDING,
                       Article.state.in_([ArticleState.IN_REVIEW, ArticleState.SUBMITTED,
                                          ArticleState.CHANGES_REQUESTED]))
                .group_by(ReviewAssignment.reviewer_id).subquery())
    rows = db.session.execute(
        select(User, func.coalesce(workload.c.n, 0))
        .join(UserRole, and_(UserRole.user_id == User.id, UserRole.role == "reviewer"))
        .outerjoin(workload, workload.c.reviewer_id == User.id)
        .order_by(User.name)
        .options(selectinload(User.role_rows), selectinload(User.profile))
    ).all()
    topic = (article.topic or "").lower()
    assigned = {a.reviewer_id for a in workflow.active_assignments(article)}
    out = []
    for user, load in rows:
        specialty = user.profile.specialty if user.profile else ""
        match = bool(topic) and bool(specialty) and (topic in specialty.lower() or specialty.lower() in topic)
        reason = reviewer_unavailable_reason(user, article)
        if user.id in assigned and reason is None:
            reason = "Already assigned."
        out.append({"user": user, "workload": load, "match": match, "reason": reason, "specialty": specialty})
    out.sort(key=lambda r: (r["reason"] is not None, not r["match"], r["workload"], r["user"].name))
    return out


def revision_for(article: Article, number: int) -> Revision:
    return get_revision(article, number)
