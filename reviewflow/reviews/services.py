"""Assigning reviewers, annotating revisions and signing decisions.

Every function takes the actor, asks the policy, flushes and never commits.
"""
from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import and_, select
from sqlalchemy.orm import selectinload

from reviewflow import policy
from reviewflow.articles import workflow
from reviewflow.articles.anchoring import context_of, locate
from reviewflow.articles.models import Article, ArticleState, Revision
from reviewflow.articles.services import get_revision
from reviewflow.audit import services as audit
from reviewflow.audit.actions import AuditAction
from reviewflow.audit.models import AuditEvent
from reviewflow.auth import twofactor
from reviewflow.auth import twofactor_services as two_factor
from reviewflow.auth.models import ReviewerProfile, User, UserRole
from reviewflow.auth.services import check_password
from reviewflow.errors import (
    BadPassword,
    Conflict,
    InvalidInput,
    NotFound,
    ReviewerUnavailable,
    SourcesUnchecked,
    TooManyAttempts,
)
from reviewflow.extensions import db, utcnow
from reviewflow.ids import as_id, get_or_404
from reviewflow.notifications.services import notify, notify_role
from reviewflow.reviews import queries
from reviewflow.reviews.models import (
    MEANINGS,
    Annotation,
    AnnotationReply,
    AssignmentStatus,
    Decision,
    ReviewAssignment,
)
from reviewflow.reviews.ranking import Suggestion, rank, specialty_matches
from reviewflow.sources.status import BLOCKED, unsupported
from reviewflow.textrules import counted, human_date, multi_line

COMMENT_MAX = 5000
QUOTE_MAX = 1000
#: Wrong signing passwords tolerated within ``SIGNING_WINDOW`` before signing is refused for that long.
SIGNING_FAILURES = 5
SIGNING_WINDOW = timedelta(minutes=15)


def _comment(value, field: str = "comment", required: bool = True) -> str:
    return multi_line(value, field, COMMENT_MAX, required=required).strip()


def reviewer_unavailable_reason(reviewer: User | None, article: Article, today: date | None = None) -> str | None:
    """Why this person cannot review this article, or None when they can.

    Only an active reviewer who did not write the article, whose current credentials an admin
    verified and whose licence is valid today, can be assigned or sign.
    """
    today = today or utcnow().date()
    if reviewer is None or not reviewer.has_role("reviewer"):
        return "This person is not a medical reviewer."
    if not reviewer.active:
        return f"{reviewer.name}'s account is inactive."
    if reviewer.id == article.writer_id:
        return f"{reviewer.name} wrote this article, and nobody reviews their own article."
    profile = reviewer.profile
    if profile is None:
        return f"{reviewer.name} has no credential profile yet."
    if not profile.is_verified:
        return (f"{reviewer.name}'s current credentials (version {profile.version}) are not verified yet; "
                "an admin must verify them first.")
    if not profile.license_valid_on(today):
        return f"{reviewer.name}'s licence expired on {human_date(profile.license_expires)}."
    return None


def _reviewer(reviewer_id) -> User:
    try:
        int(reviewer_id)
    except (TypeError, ValueError):
        raise InvalidInput("reviewer_id must be a person's id.", field="reviewer_id") from None
    key = as_id(reviewer_id)
    reviewer = db.session.get(User, key, options=(selectinload(User.role_rows), selectinload(User.profile))) \
        if key is not None else None
    if reviewer is None:
        raise InvalidInput("There is no person with that reviewer_id.", field="reviewer_id")
    return reviewer


def _reviewer_available(article: Article, reviewer: User | None = None, **_) -> None:
    reason = reviewer_unavailable_reason(reviewer, article)
    if reason:
        raise ReviewerUnavailable(reason + " Choose another reviewer.")


def assign_reviewer(actor, article: Article, reviewer_id, due_date: date | None = None) -> ReviewAssignment:
    """Assign a reviewer (editors). A submitted article goes in_review; a published one starts a
    re-review, for which every active reviewer signs afresh. ``due_date`` None: no due date (and no
    reminders); the page proposes ``REVIEW_DUE_DAYS`` from today.

    A reviewer whose specialty does not match the topic may be assigned: no acknowledgement is asked
    here (the API takes ``reviewer_id`` alone), the page preselects nobody then so the choice is
    deliberate, and the event records ``specialty_match`` (see ``reviews.ranking``).

    Refusals: 404/403/409 from the workflow; ReviewerUnavailable (409) for the writer, inactive
    accounts, unverified credentials and expired licences; InvalidInput for a past due date.
    """
    workflow.check(article, "assign", actor)
    reviewer = _reviewer(reviewer_id)
    _reviewer_available(article, reviewer)
    if due_date is not None and (not isinstance(due_date, date) or due_date < utcnow().date()):
        raise InvalidInput("The due date is in the past.", field="due_date")
    assignment = db.session.scalar(select(ReviewAssignment).where(
        ReviewAssignment.article_id == article.id, ReviewAssignment.reviewer_id == reviewer.id))
    rereview = article.state == ArticleState.PUBLISHED
    if assignment is not None and assignment.status != AssignmentStatus.WITHDRAWN and not rereview:
        raise Conflict(f"{reviewer.name} is already assigned to this article.")
    if assignment is None:
        assignment = ReviewAssignment(article_id=article.id, reviewer_id=reviewer.id, assigned_by_id=actor.id)
        db.session.add(assignment)
    assignment.status, assignment.status_revision, assignment.withdrawn_at = AssignmentStatus.PENDING.value, None, None
    assignment.due_date, assignment.assigned_at, assignment.assigned_by_id = due_date, utcnow(), actor.id
    assignment.due_reminder_at, assignment.overdue_reminder_at, assignment.overdue_reminders = None, None, 0
    db.session.flush()
    specialty = reviewer.profile.specialty if reviewer.profile else ""
    workflow.apply(article, "assign", actor=actor, role="editor", target=assignment, revision=article.revision,
                   details={"reviewer": reviewer.display_name, "reviewer_id": reviewer.id,
                            "due_date": due_date.isoformat() if due_date else None, "rereview": rereview,
                            "specialty": specialty,
                            "specialty_match": specialty_matches(article.topic, specialty)})
    notify(reviewer, f"You were asked to {'re-review' if rereview else 'review'} “{article.title}”"
                     + (f" by {human_date(due_date)}." if due_date else "."), f"/work/articles/{article.id}/review",
           article=article, kind="assignment")
    return assignment


def get_assignment(article: Article, assignment_id) -> ReviewAssignment:
    assignment = get_or_404(ReviewAssignment, assignment_id, "There is no such assignment on this article.")
    if assignment.article_id != article.id:
        raise NotFound("There is no such assignment on this article.")
    return assignment


def withdraw_assignment(actor, article: Article, assignment: ReviewAssignment) -> ReviewAssignment:
    """Withdraw a reviewer (editors); the article's state is settled with the remaining reviewers
    (which may complete a re-review)."""
    workflow.check(article, "withdraw", actor)
    db.session.refresh(assignment)
    if assignment.status == AssignmentStatus.WITHDRAWN:
        raise Conflict(f"{assignment.reviewer.name} was already withdrawn from this article.")
    assignment.status, assignment.withdrawn_at = AssignmentStatus.WITHDRAWN.value, utcnow()
    db.session.flush()
    reviewer = db.session.get(User, assignment.reviewer_id, options=[selectinload(User.profile)],
                              populate_existing=True)
    workflow.apply(article, "withdraw", actor=actor, role="editor", target=assignment,
                   details={"reviewer": reviewer.display_name, "reviewer_id": assignment.reviewer_id})
    return assignment


def add_annotation(actor, article: Article, revision_number, quote, comment, blocking=False,
                   prefix="", suffix="") -> Annotation:
    """Anchor a comment to quoted text of a revision (assigned reviewers).

    The quote must occur in the revision's text (InvalidInput otherwise); prefix and
    suffix pick among several occurrences and are then stored as found. A blocking
    annotation on an approved article sends it back to review.
    """
    workflow.check(article, "annotate", actor)
    rev = get_revision(article, revision_number)
    quote = multi_line(quote, "quote", QUOTE_MAX)
    comment = _comment(comment)
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
    workflow.apply(article, "annotate", actor=actor, role="reviewer", target=ann, revision=rev,
                   details={"blocking": blocking, "comment": comment[:500]})
    notify(article.writer, f"{actor.name} annotated “{article.title}”"
                           + (" (blocking)." if blocking else "."), f"/work/articles/{article.id}/review",
           article=article, kind="annotation", detail=comment)
    return ann


def get_annotation(annotation_id) -> Annotation:
    return get_or_404(Annotation, annotation_id, "There is no such annotation.")


def reply_to_annotation(actor, ann: Annotation, comment) -> AnnotationReply:
    """Add a reply to an annotation's thread (the article's staff)."""
    article = db.session.get(Article, ann.article_id)
    policy.authorize(actor, "annotation.reply", article)
    reply = AnnotationReply(annotation_id=ann.id, author_id=actor.id, comment=_comment(comment))
    db.session.add(reply)
    db.session.flush()
    audit.record(AuditAction.ANNOTATION_REPLIED, actor=actor, role=policy.acting_role(actor, article), target=ann,
                 article=article, details={"comment": reply.comment[:500], "reply_id": reply.id})
    for person in {ann.author, article.writer} - {actor}:
        notify(person, f"{actor.name} replied on “{article.title}”.", f"/work/articles/{article.id}/review",
               article=article, kind="reply", detail=reply.comment)
    return reply


def set_annotation_status(actor, ann: Annotation, status: str) -> Annotation:
    """Resolve or reopen an annotation. A blocking one: only a reviewer assigned to the article (its
    author, or another once the author is withdrawn); a suggestion: also the writer. The article's
    state follows (resolving the last blocking annotation of fully approved content approves it)."""
    article = db.session.get(Article, ann.article_id)
    name = "resolve" if status == "resolved" else "reopen"
    workflow.check(article, name, actor, annotation=ann)
    db.session.refresh(ann)
    if ann.status == status:
        raise Conflict(f"This annotation is already {status}.")
    before = ann.status
    ann.status = status
    ann.resolved_at, ann.resolved_by_id = (utcnow(), actor.id) if status == "resolved" else (None, None)
    db.session.flush()
    workflow.apply(article, name, actor=actor, role=policy.acting_role(actor, article), target=ann,
                   details={"annotation": [before, status], "blocking": ann.blocking})
    return ann


def annotations_of(article: Article) -> list[Annotation]:
    return list(db.session.scalars(select(Annotation).where(Annotation.article_id == article.id)
                                   .order_by(Annotation.status, Annotation.id)))


def review_checklist() -> list[str]:
    """What an approval attests, item by item (``REVIEW_CHECKLIST``; ``GET /api/v1/review-checklist``)."""
    return list(current_app.config["REVIEW_CHECKLIST"])


def _attested(decision: str, checklist) -> list[str]:
    """The checklist items a decision attests: an approval attests every item, in the checklist's order."""
    items = review_checklist()
    if checklist is None:
        checklist = []
    if not isinstance(checklist, list | tuple) or not all(isinstance(c, str) for c in checklist):
        raise InvalidInput("checklist must be a list of the review checklist's items.", field="checklist")
    unknown = [c for c in checklist if c not in items]
    if unknown:
        raise InvalidInput(f"“{unknown[0][:80]}” is not an item of the review checklist "
                           "(GET /api/v1/review-checklist lists them).", field="checklist")
    missing = [c for c in items if c not in checklist]
    if decision == "approve" and missing:
        raise InvalidInput(f"An approval attests every item of the review checklist; missing: “{missing[0]}”"
                           + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
                           + ". If one does not hold, request changes instead. Nothing was signed.",
                           field="checklist")
    return [c for c in items if c in checklist]


def signing_locked_for(actor, now: datetime | None = None) -> int:
    """Seconds until ``actor`` may sign again after too many wrong signing passwords (0: may sign now).

    Five wrong passwords within fifteen minutes refuse signing for fifteen minutes from the fifth,
    even with the right password. The failures are read from the audit trail, where each is recorded.
    """
    now = now or utcnow()
    times = list(db.session.scalars(
        select(AuditEvent.occurred_at).where(AuditEvent.action == AuditAction.SIGNATURE_FAILED,
                                             AuditEvent.actor_id == actor.id,
                                             AuditEvent.occurred_at > now - 2 * SIGNING_WINDOW)
        .order_by(AuditEvent.occurred_at)))
    until = None
    for i in range(SIGNING_FAILURES - 1, len(times)):
        if times[i] - times[i - SIGNING_FAILURES + 1] <= SIGNING_WINDOW:
            until = times[i] + SIGNING_WINDOW
    return max(0, math.ceil((until - now).total_seconds())) if until else 0


def _check_signing_password(actor, article: Article, rev: Revision, decision: str, password, code=None) -> None:
    """The password, and with two-factor sign-in on the app's current code too (never one used before).

    A wrong one of either is a ``signature.failed`` event and a 401 ``bad_password``; they count
    together towards the pause after five.
    """
    wait = signing_locked_for(actor)
    if wait:
        raise TooManyAttempts(f"Too many wrong signing passwords: signing is paused for "
                              f"{counted(math.ceil(wait / 60), 'more minute')}. Nothing was signed.", retry_after=wait)
    if not isinstance(password, str) or not check_password(actor, password):
        audit.record(AuditAction.SIGNATURE_FAILED, actor=actor, role="reviewer", target=article, article=article,
                     revision=rev, details={"decision": decision})
        raise BadPassword("Signing needs your password, and the one entered is not right. Nothing was signed.",
                          field="password")
    if twofactor.enabled(actor) and not two_factor.check_totp(actor, code if isinstance(code, str) else ""):
        audit.record(AuditAction.SIGNATURE_FAILED, actor=actor, role="reviewer", target=article, article=article,
                     revision=rev, details={"decision": decision, "factor": "code"})
        raise BadPassword("Signing needs the current code from your authenticator app, and the one entered is not "
                          "right or was used already. Nothing was signed.", field="code")


def sign_decision(actor, article: Article, revision_number, decision, password, comment=None,
                  checklist: list[str] | None = None, code: str | None = None) -> Decision:
    """Sign a decision on the current revision: an electronic signature (21 CFR Part 11).

    Refusals, in order: 404 (cannot see the article), 403 (not an assigned reviewer), 409 (not in
    review; not the current revision: stale_revision), 400 (no such decision, no password), 409
    reviewer_unavailable (credentials not verified, licence expired), 429 too_many_attempts (five
    wrong passwords in fifteen minutes), 401 bad_password (recorded as a ``signature.failed`` event,
    which stays; with two-factor sign-in on, also a wrong or reused ``code``, and 400 without one),
    400 (checklist or comment wrong), 409 (approval while a blocking annotation is open),
    409 sources_unchecked (approval while a cited source has no standing ``supports``).
    The password is checked before what the signature says, so a wrong one is always a 401.
    """
    if isinstance(revision_number, bool) or not isinstance(revision_number, int | str):
        raise InvalidInput("revision must be a revision number.", field="revision")
    rev = get_revision(article, revision_number)
    workflow.check(article, "decide", actor, revision=rev)
    if decision not in MEANINGS:
        raise InvalidInput("decision must be \"approve\" or \"request_changes\".", field="decision")
    if not isinstance(password, str) or not password:
        raise InvalidInput("Signing needs your password. Nothing was signed.", field="password")
    if twofactor.enabled(actor) and not (isinstance(code, str) and code.strip()):
        raise InvalidInput("Signing needs the current code from your authenticator app (two-factor sign-in is on). "
                           "Nothing was signed.", field="code")
    reason = reviewer_unavailable_reason(actor, article)
    if reason:
        raise ReviewerUnavailable(f"You cannot sign: {reason} Nothing was signed.")
    _check_signing_password(actor, article, rev, decision, password, code)
    items = _attested(decision, checklist)
    comment = _comment(comment, required=decision == "request_changes",
                       field="comment" if decision == "approve" else "comment (what must change)")
    if decision == "approve" and workflow.open_blocking(article):
        raise Conflict("A blocking annotation is still open. It must be resolved before approval. Nothing was signed.")
    if decision == "approve":
        _sources_supported(article)
    profile: ReviewerProfile = actor.profile
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
    workflow.apply(article, "decide", actor=actor, role="reviewer", revision=rev, target=signed,
                   details=signature_details(signed, profile), action=AuditAction.DECISION_SIGNED)
    if decision == "request_changes":
        notify(article.writer, f"{actor.display_name} requested changes to “{article.title}”.",
               f"/work/articles/{article.id}", article=article, kind="changes_requested", detail=comment or "")
    elif article.state == ArticleState.APPROVED:
        notify(article.writer, f"“{article.title}” revision {rev.number} is approved.", f"/work/articles/{article.id}",
               article=article, kind="approval", detail=comment or "")
        notify_role("editor", f"“{article.title}” revision {rev.number} is approved and ready to publish.",
                    f"/work/articles/{article.id}/publish", exclude=article.writer, article=article, kind="approval")
    return signed


def _sources_supported(article: Article) -> None:
    """An approval waits until every source the revision cites has a standing ``supports`` (409 otherwise)."""
    waiting = unsupported(article)
    if not waiting:
        return
    blocked = [s.key for s in waiting if s.status == BLOCKED]
    unchecked = [s.key for s in waiting if s.status != BLOCKED]
    parts = []
    if unchecked:
        parts.append("not yet checked: " + ", ".join(f"[^{k}]" for k in unchecked))
    if blocked:
        parts.append("with a verdict other than supports: " + ", ".join(f"[^{k}]" for k in blocked))
    raise SourcesUnchecked("Every cited source must be checked as supporting the text before approval; sources "
                           + "; ".join(parts) + ". Nothing was signed.")


def signature_details(signed: Decision, profile: ReviewerProfile) -> dict:
    """What the ``decision.signed`` event carries: everything the decision row and a byline show,
    so ``audit verify`` can prove the row from the chain."""
    return {"decision_id": signed.id, "decision": signed.decision, "reviewer_id": signed.reviewer_id,
            "signer": signed.printed_name, "credentials": signed.credentials, "specialty": signed.specialty,
            "license_number": signed.license_number, "license_expires": signed.license_expires.isoformat(),
            "profile_version": profile.version, "verified_at": profile.verified_at.isoformat(),
            "meaning": signed.meaning, "signed_at": signed.signed_at.isoformat(),
            "content_hash": signed.content_hash, "revision": signed.revision_number,
            "checklist": json.loads(signed.checklist), "comment": signed.comment[:500]}


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


def suggested_reviewers(article: Article) -> list[Suggestion]:
    """Every reviewer, ranked for this article (``ranking.rank``): those who can be assigned first, then
    specialty matches, lighter open workload and faster past turnaround; each says why
    (``Suggestion.why``) and, when they cannot serve, the reason. Four queries whatever the data size
    (people with their roles and profiles, open workloads, turnarounds, the article's assignments).
    """
    people = db.session.scalars(
        select(User).join(UserRole, and_(UserRole.user_id == User.id, UserRole.role == "reviewer"))
        .order_by(User.name).options(selectinload(User.role_rows), selectinload(User.profile))
    ).all()
    workloads, turnarounds = queries.open_workloads(), queries.turnaround_days()
    assigned = {a.reviewer_id for a in workflow.active_assignments(article)}
    today = utcnow().date()
    out = []
    for user in people:
        specialty = user.profile.specialty if user.profile else ""
        reason = reviewer_unavailable_reason(user, article, today)
        if user.id in assigned and reason is None:
            reason = "Already assigned."
        out.append(Suggestion(user=user, specialty=specialty, match=specialty_matches(article.topic, specialty),
                              workload=workloads.get(user.id, 0), turnaround_days=turnarounds.get(user.id),
                              reason=reason))
    return rank(out)
