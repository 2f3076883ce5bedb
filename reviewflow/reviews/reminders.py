"""Reminders of review due dates: one before the date, then while overdue, through the outbox.

``flask --app reviewflow remind-reviewers`` runs ``remind_reviewers`` (daily from cron). A pending
review (not yet decided, not withdrawn) on an article in review (a re-review too), whose reviewer's
account is active, gets:

- one reminder when it falls due within ``REVIEW_REMINDER_DAYS_BEFORE`` days (today included),
  unless it was assigned today: the assignment's own notice already named the date;
- once overdue, a reminder, repeated at most every ``REVIEW_OVERDUE_REPEAT_DAYS`` days (counted in
  calendar days, UTC) until the reviewer decides or is withdrawn. The first overdue reminder also
  tells the editor who assigned the review, who may assign someone else.

Each reminder is an in-app notification plus an e-mail (``notifications.services.notify``) and one
``review.reminded`` audit event, committed together. It is claimed first by a conditional UPDATE of
the assignment's reminder columns that repeats every condition: of two runs at once, only the one
whose UPDATE changed the row sends it (PostgreSQL re-checks the condition once the other run's
transaction ends; SQLite runs one writer at a time). Running the command twice sends nothing twice.
Assigning the reviewer again (a new due date, a re-review) starts the reminders afresh.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from reviewflow.articles.models import Article, ArticleState
from reviewflow.articles.queries import reviewer_profiles
from reviewflow.audit import services as audit
from reviewflow.audit.actions import AuditAction
from reviewflow.auth.models import User
from reviewflow.extensions import db, utcnow
from reviewflow.notifications.services import notify
from reviewflow.reviews.models import AssignmentStatus, ReviewAssignment
from reviewflow.textrules import human_date

#: Articles whose pending reviews are reminded: in review (a re-review of a live article too: assigning its
#: reviewer put it in review) or waiting for changes another reviewer asked for.
REMINDED_STATES = frozenset({ArticleState.IN_REVIEW, ArticleState.CHANGES_REQUESTED})


@dataclass
class Reminded:
    """What one run queued."""

    due_soon: int = 0
    overdue: int = 0
    editors: int = 0

    @property
    def total(self) -> int:
        return self.due_soon + self.overdue


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def _waiting():
    """WHERE: a pending review on an article whose reviews are reminded (the claim repeats this)."""
    return (ReviewAssignment.status == AssignmentStatus.PENDING.value,
            ReviewAssignment.article_id.in_(select(Article.id).where(Article.state.in_(REMINDED_STATES))))


def _due_soon(today: date, days_before: int):
    """WHERE: due within ``days_before`` days (today included), assigned before today, not yet reminded."""
    return (*_waiting(), ReviewAssignment.due_date >= today,
            ReviewAssignment.due_date <= today + timedelta(days=days_before),
            ReviewAssignment.assigned_at < _midnight(today), ReviewAssignment.due_reminder_at.is_(None))


def _overdue(today: date, repeat_days: int):
    """WHERE: past its due date, and never reminded of it or last reminded ``repeat_days`` or more days ago."""
    last_allowed = _midnight(today - timedelta(days=repeat_days - 1))
    return (*_waiting(), ReviewAssignment.due_date < today,
            or_(ReviewAssignment.overdue_reminder_at.is_(None), ReviewAssignment.overdue_reminder_at < last_allowed))


def _candidates(where) -> list[int]:
    """Ids of the assignments matching ``where`` whose reviewer's account is active, oldest due first."""
    return list(db.session.scalars(
        select(ReviewAssignment.id).join(User, User.id == ReviewAssignment.reviewer_id)
        .where(*where, User.active.is_(True)).order_by(ReviewAssignment.due_date, ReviewAssignment.id)))


def _claim(assignment_id: int, where, **values) -> bool:
    """Mark the reminder as sent on the assignment only if it still matches ``where``; True when this
    run won it. Not committed: the reminder and its audit event go in the same transaction."""
    claimed = db.session.execute(
        update(ReviewAssignment).where(ReviewAssignment.id == assignment_id, *where).values(**values)
        .execution_options(synchronize_session=False))
    return claimed.rowcount == 1


def _load(assignment_id: int) -> tuple[ReviewAssignment, Article]:
    assignment = db.session.get(ReviewAssignment, assignment_id, populate_existing=True,
                                options=[reviewer_profiles(ReviewAssignment.reviewer)])
    return assignment, db.session.get(Article, assignment.article_id)


def _record(assignment: ReviewAssignment, article: Article, kind: str, count: int | None = None) -> None:
    details = {"reviewer": assignment.reviewer.display_name, "reviewer_id": assignment.reviewer_id, "kind": kind,
               "due_date": assignment.due_date.isoformat()}
    if count is not None:
        details["count"] = count
    audit.record(AuditAction.REVIEW_REMINDED, role="system", target=assignment, article=article, details=details)


def remind_reviewers(now: datetime | None = None) -> Reminded:
    """Queue the reminders due at ``now`` (default: the clock), each committed with its audit event;
    returns how many went out. Safe to run at any time and as often as wanted (see the module)."""
    now = now or utcnow()
    today = now.date()
    config = current_app.config
    days_before, repeat = config["REVIEW_REMINDER_DAYS_BEFORE"], max(1, config["REVIEW_OVERDUE_REPEAT_DAYS"])
    out = Reminded()

    soon = _due_soon(today, days_before)
    for assignment_id in _candidates(soon):
        if not _claim(assignment_id, soon, due_reminder_at=now):
            db.session.rollback()
            continue
        assignment, article = _load(assignment_id)
        days = (assignment.due_date - today).days
        when = "today" if days == 0 else f"on {human_date(assignment.due_date)}"
        notify(assignment.reviewer, f"Reminder: your review of “{article.title}” is due {when}.",
               f"/work/articles/{article.id}/review", article=article, kind="reminder")
        _record(assignment, article, "due_soon")
        db.session.commit()
        out.due_soon += 1

    late = _overdue(today, repeat)
    for assignment_id in _candidates(late):
        if not _claim(assignment_id, late, overdue_reminder_at=now,
                      overdue_reminders=ReviewAssignment.overdue_reminders + 1):
            db.session.rollback()
            continue
        assignment, article = _load(assignment_id)
        due = human_date(assignment.due_date)
        notify(assignment.reviewer, f"Your review of “{article.title}” is overdue: it was due on {due}. Please "
                                    "review it now, or tell the editor if you cannot.",
               f"/work/articles/{article.id}/review", article=article, kind="reminder")
        if assignment.overdue_reminders == 1:
            editor = db.session.get(User, assignment.assigned_by_id)
            if editor is not None and editor.active and editor.id != assignment.reviewer_id:
                notify(editor, f"{assignment.reviewer.display_name}'s review of “{article.title}” is overdue "
                               f"(due {due}). Remind them, or assign another reviewer.",
                       f"/work/articles/{article.id}/assign", article=article, kind="reminder")
                out.editors += 1
        _record(assignment, article, "overdue", assignment.overdue_reminders)
        db.session.commit()
        out.overdue += 1
    return out
