"""The editorial overview's numbers, each a few grouped queries whatever the data size.

- Review turnaround per week: for every decision signed in the last ``WEEKS`` weeks, the time from
  when the reviewer could start on the revision they decided (the later of their assignment and the
  revision being saved) to the signature; the median and the 90th percentile per week of signing.
- Reviews overdue: pending assignments on articles under review whose due date has passed, per reviewer.
- Re-reviews due by month: live articles by the month their periodic medical re-review falls due, the
  overdue ones counted together first.
- Decisions per reviewer over the last ``DECISION_DAYS`` days: approvals and requests for changes.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Integer, and_, cast, func, select

from reviewflow.articles.models import Article, ArticleState, Revision
from reviewflow.auth.models import User
from reviewflow.extensions import db
from reviewflow.reviews.models import AssignmentStatus, Decision, ReviewAssignment

WEEKS = 12
MONTHS = 13  # this month and the twelve after it: a just-published article (due in 12 months) shows
DECISION_DAYS = 90
UNDER_REVIEW = (ArticleState.SUBMITTED, ArticleState.IN_REVIEW, ArticleState.CHANGES_REQUESTED)


@dataclass
class Week:
    start: date
    count: int = 0
    median_days: float | None = None
    p90_days: float | None = None


@dataclass
class Overview:
    today: date
    turnaround: list[Week] = field(default_factory=list)
    overdue: list[tuple[str, int]] = field(default_factory=list)  # (reviewer, pending reviews overdue)
    rereviews: list[tuple[str, int]] = field(default_factory=list)  # (month label, live articles due)
    decisions: list[tuple[str, int, int]] = field(default_factory=list)  # (reviewer, approved, changes)

    @property
    def overdue_total(self) -> int:
        return sum(n for _, n in self.overdue)


def percentile(values: list[float], share: float) -> float:
    """The ``share`` percentile by the nearest-rank method (the 90th of ten values is the ninth)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))  # ceil(n * share), at least 1
    return ordered[int(rank) - 1]


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def turnaround(today: date, weeks: int = WEEKS) -> list[Week]:
    first = week_start(today) - timedelta(weeks=weeks - 1)
    rows = db.session.execute(
        select(Decision.signed_at, ReviewAssignment.assigned_at, Revision.created_at)
        .join(ReviewAssignment, ReviewAssignment.id == Decision.assignment_id)
        .join(Revision, and_(Revision.article_id == Decision.article_id,
                             Revision.number == Decision.revision_number))
        .where(Decision.signed_at >= _midnight(first))
    ).all()
    return weekly([(signed, max(assigned, saved)) for signed, assigned, saved in rows], first, weeks)


def weekly(spans: list[tuple[datetime, datetime]], first: date, weeks: int) -> list[Week]:
    """(signed, began) pairs summarised per week of signing from ``first``: count, median and 90th
    percentile of the days between the two (a signature before its start counts as zero days)."""
    by_week: dict[date, list[float]] = {first + timedelta(weeks=i): [] for i in range(weeks)}
    for signed_at, began in spans:
        bucket = week_start(signed_at.date())
        if bucket in by_week:
            by_week[bucket].append(max(0.0, (signed_at - began).total_seconds() / 86400))
    out = []
    for start, values in by_week.items():
        week = Week(start=start, count=len(values))
        if values:
            week.median_days = round(statistics.median(values), 1)
            week.p90_days = round(percentile(values, 0.9), 1)
        out.append(week)
    return out


def overdue(today: date) -> list[tuple[str, int]]:
    rows = db.session.execute(
        select(User.name, func.count())
        .select_from(ReviewAssignment)
        .join(User, User.id == ReviewAssignment.reviewer_id)
        .join(Article, Article.id == ReviewAssignment.article_id)
        .where(ReviewAssignment.status == AssignmentStatus.PENDING.value,
               ReviewAssignment.due_date < today,
               Article.state.in_([s.value for s in UNDER_REVIEW]))
        .group_by(User.id, User.name).order_by(func.count().desc(), User.name)
    ).all()
    return [(name, n) for name, n in rows]


def rereviews(today: date, months: int = MONTHS) -> list[tuple[str, int]]:
    """Live articles by the month their re-review falls due: "Overdue now" first, then this month onwards."""
    month = func.substr(cast(Article.rereview_due, db.String), 1, 7)  # "YYYY-MM" on both databases
    live_due = and_(Article.live_version.is_not(None), Article.rereview_due.is_not(None))
    late = db.session.scalar(select(func.count()).where(live_due, Article.rereview_due < today)) or 0
    counts = dict(db.session.execute(
        select(month, func.count()).where(live_due, Article.rereview_due >= today).group_by(month)).all())
    out = [("Overdue now", late)]
    year, number = today.year, today.month
    for _ in range(months):
        out.append((date(year, number, 1).strftime("%b %Y"), counts.get(f"{year:04d}-{number:02d}", 0)))
        year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    return out


def decisions(today: date, days: int = DECISION_DAYS) -> list[tuple[str, int, int]]:
    approved = func.sum(cast(Decision.decision == "approve", Integer))
    rows = db.session.execute(
        select(User.name, approved, func.count())
        .join(User, User.id == Decision.reviewer_id)
        .where(Decision.signed_at >= _midnight(today - timedelta(days=days)))
        .group_by(User.id, User.name).order_by(func.count().desc(), User.name)
    ).all()
    return [(name, int(ok or 0), int(total) - int(ok or 0)) for name, ok, total in rows]


def overview(today: date) -> Overview:
    return Overview(today=today, turnaround=turnaround(today), overdue=overdue(today),
                    rereviews=rereviews(today), decisions=decisions(today))
