"""Read-only queries behind the review pages, and the highlighting of quotes in rendered text.

Nothing here changes data. Every list is a fixed number of SQL queries whatever the data
size (eager loading through the models' joined/selectin relationships).
"""
from __future__ import annotations

import html
import re
import statistics
from dataclasses import dataclass
from datetime import date, timedelta

from markupsafe import Markup
from sqlalchemy import and_, case, func, or_, select, union_all
from sqlalchemy.orm import lazyload, selectinload

from reviewflow import paging
from reviewflow.articles.models import Article, ArticleState, Revision
from reviewflow.articles.queries import list_options, reviewer_profiles
from reviewflow.extensions import db, utcnow
from reviewflow.reviews.models import Annotation, AnnotationReply, AssignmentStatus, Decision, ReviewAssignment

#: A review due within this many days counts as "due soon" (the dashboard and the queue).
DUE_SOON_DAYS = 3
RECENT_LIMIT = 10
#: Characters of preceding text compared with an annotation's stored prefix.
CONTEXT = 200


def _still_open():
    """WHERE: the assignment waits for its reviewer (``AssignmentStatus.OPEN``) on an article under review."""
    return ReviewAssignment.status.in_(AssignmentStatus.OPEN) & Article.state.in_(ArticleState.UNDER_REVIEW)


def _active_filter(reviewer_id: int) -> tuple:
    return ReviewAssignment.reviewer_id == reviewer_id, _still_open()


def _queue_key(row: tuple[ReviewAssignment, Article]) -> tuple[int, int]:
    due = row[0].due_date
    return (due.toordinal() if due else 0), row[0].id


#: Cursors of the queue: ``q<due date as a day number, 0 for none>.<assignment id>``. The queue runs
#: from the earliest due date, so its next page is ``?after=`` and its previous one ``?before=``.
QUEUE_KEYSET = paging.Keyset("q", (paging.MAX_ORDINAL, paging.MAX_ID), _queue_key, next="after", prev="before")


def _past(cursor: paging.Cursor):
    """WHERE: the assignment comes after the cursor's in queue order (before it, for a backward cursor).

    The order is (no due date, due date, id). Spelled out by case because a missing due date is
    NULL, which compares as neither less nor greater: undated rows follow every dated one and
    are ordered by id among themselves.
    """
    day, id_ = cursor.key
    due, undated = ReviewAssignment.due_date, ReviewAssignment.due_date.is_(None)
    if not cursor.backward:
        if not day:
            return and_(undated, ReviewAssignment.id > id_)
        on = date.fromordinal(day)
        return or_(undated, due > on, and_(due == on, ReviewAssignment.id > id_))
    if not day:
        return or_(due.is_not(None), ReviewAssignment.id < id_)
    on = date.fromordinal(day)
    return or_(due < on, and_(due == on, ReviewAssignment.id < id_))


def review_queue(reviewer, cursor: paging.Cursor | None, per_page: int, total: int | None = None) -> paging.KeysetPage:
    """The reviewer's open assignments, overdue first then by due date (no due date last), keyset-
    paginated on (no due date, due date, id) from ``cursor`` (None: the first page): the queue's
    pages, and its first ``per_page`` rows on the dashboard.

    Open: not withdrawn, not yet approved, on an article under review. Items are (assignment,
    article) pairs, the article with its writer. Two queries (one when the caller passes the
    ``total`` of ``queue_counts``), three when a backward page reaches the start.
    """
    if total is None:
        total = queue_counts(reviewer)["total"]
    undated = case((ReviewAssignment.due_date.is_(None), 1), else_=0)
    order = (undated, ReviewAssignment.due_date, ReviewAssignment.id)

    def run(at: paging.Cursor | None) -> list[tuple]:
        stmt = (select(ReviewAssignment, Article).join(Article, Article.id == ReviewAssignment.article_id)
                .where(*_active_filter(reviewer.id)).options(*list_options()))
        if at is not None:
            stmt = stmt.where(_past(at))
        backward = at is not None and at.backward
        stmt = stmt.order_by(*(c.desc() for c in order) if backward else order).limit(per_page + 1)
        return [tuple(r) for r in db.session.execute(stmt).unique().all()]

    return paging.KeysetPage(*paging.fetch(run, cursor, per_page), total, "open review")


def queue_counts(reviewer) -> dict[str, int]:
    """How many assignments are open, how many of them are overdue and how many due within
    ``DUE_SOON_DAYS`` (one query)."""
    today = utcnow().date()
    total, overdue, soon = db.session.execute(
        select(func.count(), func.coalesce(func.sum(case((ReviewAssignment.due_date < today, 1), else_=0)), 0),
               func.coalesce(func.sum(case((ReviewAssignment.due_date.between(
                   today, today + timedelta(days=DUE_SOON_DAYS)), 1), else_=0)), 0))
        .select_from(ReviewAssignment).join(Article, Article.id == ReviewAssignment.article_id)
        .where(*_active_filter(reviewer.id))
    ).one()
    return {"total": int(total), "overdue": int(overdue), "due_soon": int(soon)}


#: How many of a reviewer's latest decisions their usual turnaround is the median of.
TURNAROUND_DECISIONS = 10


def open_workloads(reviewer_ids=None) -> dict[int, int]:
    """Open reviews per reviewer id (what each one's queue counts as open), for everyone or just
    ``reviewer_ids``; a reviewer with none is absent. One query."""
    stmt = (select(ReviewAssignment.reviewer_id, func.count())
            .join(Article, Article.id == ReviewAssignment.article_id).where(_still_open())
            .group_by(ReviewAssignment.reviewer_id))
    if reviewer_ids is not None:
        stmt = stmt.where(ReviewAssignment.reviewer_id.in_(list(reviewer_ids)))
    return {reviewer_id: int(n) for reviewer_id, n in db.session.execute(stmt).all()}


def turnaround_days(reviewer_ids=None, latest: int = TURNAROUND_DECISIONS) -> dict[int, float]:
    """Each reviewer's usual turnaround: the median, in days, over their ``latest`` signed decisions, of
    the time from when they could start on the revision they decided to their signature. One query.

    They could start at the later of their assignment and the revision being saved (as the editorial
    overview counts it). A re-review moves ``assigned_at`` past earlier decisions; those count from the
    revision being saved. A reviewer who never signed is absent.
    """
    order = (Decision.signed_at.desc(), Decision.id.desc())
    numbered = (select(Decision.reviewer_id, Decision.signed_at, ReviewAssignment.assigned_at,
                       Revision.created_at.label("saved_at"),
                       func.row_number().over(partition_by=Decision.reviewer_id, order_by=order).label("n"))
                .join(ReviewAssignment, ReviewAssignment.id == Decision.assignment_id)
                .join(Revision, and_(Revision.article_id == Decision.article_id,
                                     Revision.number == Decision.revision_number)))
    if reviewer_ids is not None:
        numbered = numbered.where(Decision.reviewer_id.in_(list(reviewer_ids)))
    inner = numbered.subquery()
    spans: dict[int, list[float]] = {}
    for reviewer_id, signed, assigned, saved in db.session.execute(
            select(inner.c.reviewer_id, inner.c.signed_at, inner.c.assigned_at, inner.c.saved_at)
            .where(inner.c.n <= latest)).all():
        began = max(assigned, saved) if assigned <= signed else saved
        spans.setdefault(reviewer_id, []).append(max(0.0, (signed - began).total_seconds() / 86400))
    return {reviewer_id: statistics.median(values) for reviewer_id, values in spans.items()}


@dataclass
class InProgress:
    """The editors' view of reviews under way: the first rows, overdue first, and the counts."""

    rows: list[tuple]  # (assignment with its reviewer and their profile, article with its writer)
    total: int
    overdue: int
    due_soon: int


def reviews_in_progress(limit: int) -> InProgress:
    """Every reviewer's open reviews (as each one's queue has them), in the queue's order: overdue first,
    then by due date, no due date last; the first ``limit`` with the counts. Three queries."""
    today = utcnow().date()
    total, overdue, soon = db.session.execute(
        select(func.count(), func.coalesce(func.sum(case((ReviewAssignment.due_date < today, 1), else_=0)), 0),
               func.coalesce(func.sum(case((ReviewAssignment.due_date.between(
                   today, today + timedelta(days=DUE_SOON_DAYS)), 1), else_=0)), 0))
        .select_from(ReviewAssignment).join(Article, Article.id == ReviewAssignment.article_id).where(_still_open())
    ).one()
    return InProgress(_first_in_progress(limit), int(total), int(overdue), int(soon))


def _first_in_progress(limit: int) -> list[tuple]:
    """The first ``limit`` open reviews in (no due date last, due date, id) order. The ids come from one walk
    of the index on (status, due_date) per open status and per dated/undated half, each stopping after
    ``limit`` rows (one UNION ALL), then the rows themselves: sorting every open review of the newsroom to
    show a few was most of the editor's dashboard. Two queries and the eager loads."""
    walks = []
    for status in sorted(AssignmentStatus.OPEN):
        for due, order in ((ReviewAssignment.due_date.is_not(None), (ReviewAssignment.due_date, ReviewAssignment.id)),
                           (ReviewAssignment.due_date.is_(None), (ReviewAssignment.id,))):
            walk = (select(ReviewAssignment.id).join(Article, Article.id == ReviewAssignment.article_id)
                    .where(ReviewAssignment.status == status, due, Article.state.in_(ArticleState.UNDER_REVIEW))
                    .order_by(*order).limit(limit).subquery())
            walks.append(select(walk.c.id))
    ids = list(db.session.scalars(union_all(*walks)))
    if not ids:
        return []
    found = db.session.execute(
        select(ReviewAssignment, Article).join(Article, Article.id == ReviewAssignment.article_id)
        .where(ReviewAssignment.id.in_(ids)).options(*list_options(), reviewer_profiles(ReviewAssignment.reviewer))
    ).unique().all()
    found.sort(key=lambda row: (row[0].due_date is None, row[0].due_date or date.min, row[0].id))
    return [tuple(row) for row in found[:limit]]


def recently_completed(reviewer, limit: int = RECENT_LIMIT) -> list[tuple]:
    """The reviewer's latest signed decisions on assignments no longer open for them, newest first.

    Items are (assignment, article, decision) triples. One query plus eager loads.
    """
    rows = db.session.execute(
        select(ReviewAssignment, Article, Decision)
        .join(Article, Article.id == ReviewAssignment.article_id)
        .join(Decision, Decision.id == ReviewAssignment.decision_id)
        .where(ReviewAssignment.reviewer_id == reviewer.id, ~_still_open())
        .options(lazyload(Article.revision))
        .order_by(Decision.signed_at.desc(), Decision.id.desc())
        .limit(limit)
    ).all()
    return [tuple(r) for r in rows]


def workspace_annotations(article: Article) -> list[Annotation]:
    """Every annotation of the article: open before resolved, blocking first, then in text order."""
    return list(db.session.scalars(
        select(Annotation).where(Annotation.article_id == article.id)
        .options(reviewer_profiles(Annotation.author),
                 selectinload(Annotation.replies).options(reviewer_profiles(AnnotationReply.author)))
        .order_by(case((Annotation.status == "open", 0), else_=1), Annotation.blocking.desc(),
                  case((Annotation.position.is_(None), 1), else_=0), Annotation.position, Annotation.id)
    ))


def last_decided_revision(article: Article, reviewer) -> int | None:
    """The revision number of the latest decision this person signed on this article, or None."""
    return db.session.scalar(
        select(Decision.revision_number).where(Decision.article_id == article.id, Decision.reviewer_id == reviewer.id)
        .order_by(Decision.id.desc()).limit(1)
    )


def assignments_of(article: Article) -> list[ReviewAssignment]:
    """All assignments of the article, active first, each with its reviewer (one query)."""
    return list(db.session.scalars(
        select(ReviewAssignment).where(ReviewAssignment.article_id == article.id)
        .options(reviewer_profiles(ReviewAssignment.reviewer))
        .order_by(case((ReviewAssignment.status == AssignmentStatus.WITHDRAWN.value, 1), else_=0),
                  ReviewAssignment.assigned_at, ReviewAssignment.id)
    ))


# Highlighting -----------------------------------------------------------------------------------

#: A tag of sanitised HTML; attribute values are quoted and may contain ">".
_TAG = re.compile(r"""(<(?:[^>"']|"[^"]*"|'[^']*')*>)""")


def _common_suffix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def _wrap(parts: list[str], ann: Annotation) -> bool:
    """Wrap the best occurrence of ``ann.quote`` inside one text node of ``parts`` in a <mark>.

    ``parts`` alternates text and tags (as ``_TAG.split`` gives). The occurrence whose preceding
    text best matches the stored prefix wins; the first on a tie. Returns False when not found.
    """
    best, seen = None, ""
    for i in range(0, len(parts), 2):
        text = html.unescape(parts[i])
        start = text.find(ann.quote)
        while start != -1:
            before = text[max(0, start - CONTEXT):start]
            if len(before) < CONTEXT:
                before = seen[-(CONTEXT - len(before)):] + before
            score = _common_suffix(before, ann.prefix or "")
            if best is None or score > best[0]:
                best = (score, i, start)
            start = text.find(ann.quote, start + 1)
        seen = (seen + text)[-CONTEXT:]
    if best is None:
        return False
    _, i, start = best
    text = html.unescape(parts[i])
    end = start + len(ann.quote)
    classes = "annotation blocking" if ann.blocking else "annotation"
    mark = f'<mark class="{classes}" data-annotation-id="{int(ann.id)}">'
    parts[i:i + 1] = [html.escape(text[:start], quote=False), mark, html.escape(text[start:end], quote=False),
                      "</mark>", html.escape(text[end:], quote=False)]
    return True


def highlight(rendered: str, annotations: list[Annotation]) -> tuple[Markup, set[int]]:
    """Mark each annotation's quote in sanitised HTML; returns the HTML and the ids that were marked.

    Only text between tags is touched, and it is unescaped to search and escaped again, so
    a quote can never land inside a tag, an attribute or an entity. A quote that spans
    formatting (such as part bold) or is not in the rendered text is skipped.
    """
    parts = _TAG.split(rendered)
    marked = set()
    for ann in annotations:
        if ann.quote and _wrap(parts, ann):
            marked.add(ann.id)
    return Markup("".join(parts)), marked
