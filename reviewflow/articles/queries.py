"""Read-only list queries for the dashboard, the article index and the notification list.

Every function here makes a fixed number of SQL statements whatever the data size: the
writer is joined into the article row, the (large) current revision is never loaded for
a list (``raiseload`` makes a template that touches it fail loudly in tests), and the
assignments of the listed articles come from one separate ``IN`` query, never one per row.
Nothing here changes data.

Which articles a person sees mirrors the ``article.view`` rule of ``policy.py`` in SQL
(a list cannot ask the policy row by row): editors and admins see every article
(``article.list_all``), everyone else the articles they wrote and, for reviewers, the
articles they are actively assigned to.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, or_, select, true
from sqlalchemy.orm import joinedload, raiseload

from reviewflow import paging, policy
from reviewflow.articles.models import Article, ArticleState
from reviewflow.auth.models import ReviewerProfile, User
from reviewflow.extensions import db, utcnow
from reviewflow.reviews.models import AssignmentStatus, ReviewAssignment

S = ArticleState
#: Rows shown per dashboard section before its "see all" link.
SECTION_LIMIT = 10
#: A re-review due within this many days is listed for editors.
REREVIEW_HORIZON_DAYS = 30
#: States in which a writer has work to do.
WRITER_TODO = (S.DRAFT.value, S.CHANGES_REQUESTED.value)
SCOPES = ("", "mine", "reviewing")


def list_options():
    """Article rows for lists: writer joined in, the current revision's text never loaded."""
    return (joinedload(Article.writer), raiseload(Article.revision))


def _active_assignment_of(user):
    """WHERE: ``user`` holds an active (not withdrawn) assignment on the article of the row.

    An ``IN`` over the person's own assignments, not a correlated EXISTS: the database reads them
    from the reviewer's index and fetches those articles by id (OR'd with the writer's own, each
    through its index), where an EXISTS is tried against every article in the table.
    """
    return Article.id.in_(select(ReviewAssignment.article_id).where(
        ReviewAssignment.reviewer_id == user.id,
        ReviewAssignment.status != AssignmentStatus.WITHDRAWN.value,
    ))


def visible_clause(user):
    """The WHERE clause of the articles ``user`` may see (the ``article.view`` rule, in SQL)."""
    if policy.can(user, "article.list_all"):
        return true()
    mine = Article.writer_id == user.id
    if user.has_role("reviewer"):
        return or_(mine, _active_assignment_of(user))
    return mine


# Article index -------------------------------------------------------------------


@dataclass
class Filters:
    """The filters of the article index, as read from the query string."""

    states: list[str] = field(default_factory=list)
    topic: str = ""
    q: str = ""
    #: "" (everything visible), "mine" (written by me) or "reviewing" (assigned to me).
    scope: str = ""
    #: Only live articles whose re-review is due soon or overdue.
    rereview_due: bool = False

    @classmethod
    def from_args(cls, args) -> Filters:
        """Unknown states and scopes are ignored rather than refused: a filter link never errors."""
        states = [s for s in args.getlist("state") if s in {x.value for x in S}]
        scope = args.get("scope", "")
        return cls(
            states=list(dict.fromkeys(states)),
            topic=args.get("topic", "").strip()[:120],
            q=args.get("q", "").strip()[:200],
            scope=scope if scope in SCOPES else "",
            rereview_due=args.get("rereview") == "due",
        )

    @property
    def active(self) -> bool:
        return bool(self.states or self.topic or self.q or self.scope or self.rereview_due)

    def args(self) -> dict:
        """The query-string arguments that reproduce these filters (for pagination links)."""
        out: dict = {}
        if self.states:
            out["state"] = self.states
        for name in ("topic", "q", "scope"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        if self.rereview_due:
            out["rereview"] = "due"
        return out


@dataclass
class Page(paging.KeysetPage):
    """A page of the article index, with the assignments of its articles."""

    #: The active assignments of the listed articles, keyed by article id.
    assignments: dict = field(default_factory=dict)


def _index_key(article: Article) -> tuple[int, int]:
    return paging.micros(article.updated_at), article.id


#: Cursors of the article index: ``a<updated_at in microseconds since 1970>.<id>``.
INDEX_KEYSET = paging.Keyset("a", (paging.MAX_MICROS, paging.MAX_ID), _index_key)


def _filtered(user, filters: Filters):
    conditions = [visible_clause(user)]
    if filters.scope == "mine":
        conditions.append(Article.writer_id == user.id)
    elif filters.scope == "reviewing":
        conditions.append(_active_assignment_of(user))
    if filters.states:
        conditions.append(Article.state.in_(filters.states))
    if filters.topic:
        conditions.append(Article.topic == filters.topic)
    if filters.q:
        conditions.append(func.lower(Article.title).contains(filters.q.lower(), autoescape=True))
    if filters.rereview_due:
        conditions.append(Article.live_version.is_not(None))
        conditions.append(Article.rereview_due <= _today() + timedelta(days=REREVIEW_HORIZON_DAYS))
    return conditions


def article_index(user, filters: Filters, cursor: paging.Cursor | None = None, per_page: int = 25) -> Page:
    """The articles ``user`` may see, filtered, newest update first, keyset-paginated on
    ``(updated_at, id)`` from ``cursor`` (None: the first page).

    Three statements whatever the data size or the depth of the page (count, rows with their
    writers, assignments), plus the fixed selectin loads of the people's roles and profiles; a
    backward page that reaches the start adds one, to show the whole first page.
    """
    conditions = _filtered(user, filters)
    total = db.session.scalar(select(func.count()).select_from(Article).where(*conditions)) or 0

    def run(at: paging.Cursor | None) -> list[Article]:
        values = (paging.moment(at.key[0]), at.key[1]) if at else None
        stmt = paging.descending(select(Article).where(*conditions).options(*list_options()),
                                 (Article.updated_at, Article.id), at, values, per_page + 1)
        return list(db.session.scalars(stmt).unique())

    rows, has_prev, has_next = paging.fetch(run, cursor, per_page)
    return Page(rows, has_prev, has_next, total, "article", assignments=assignments_by_article([a.id for a in rows]))


def reviewer_profiles(path):
    """Loader option: the profile of the person at ``path`` (a joined user), for bylines with credentials
    (``User.display_name``), in one query for the whole result."""
    return joinedload(path).selectinload(User.profile)


def assignments_by_article(article_ids, include_withdrawn: bool = False) -> dict[int, list[ReviewAssignment]]:
    """The assignments of these articles in one query, keyed by article id, oldest first."""
    out: dict[int, list[ReviewAssignment]] = defaultdict(list)
    ids = sorted(set(article_ids))
    if not ids:
        return out
    stmt = (select(ReviewAssignment).where(ReviewAssignment.article_id.in_(ids)).order_by(ReviewAssignment.id)
            .options(reviewer_profiles(ReviewAssignment.reviewer)))
    if not include_withdrawn:
        stmt = stmt.where(ReviewAssignment.status != AssignmentStatus.WITHDRAWN.value)
    for a in db.session.scalars(stmt):
        out[a.article_id].append(a)
    return out


def topics_visible_to(user) -> list[str]:
    """The distinct topics of the articles ``user`` may see, for the index's topic filter."""
    return list(db.session.scalars(
        select(Article.topic).where(visible_clause(user)).group_by(Article.topic).order_by(Article.topic)
    ))


def topic_suggestions() -> list[str]:
    """Existing article topics and reviewers' specialties, for the topic field's datalist."""
    topics = set(db.session.scalars(select(Article.topic).distinct()))
    topics |= set(db.session.scalars(select(ReviewerProfile.specialty).distinct()))
    return sorted((t for t in topics if t), key=str.lower)


# Dashboard -----------------------------------------------------------------------


def _today() -> date:
    return utcnow().date()


def _state_counts(*conditions) -> dict[str, int]:
    rows = db.session.execute(
        select(Article.state, func.count()).where(*conditions).group_by(Article.state)
    ).all()
    return {state: n for state, n in rows}


@dataclass
class WriterWork:
    """A writer's dashboard: what needs their hand, and the rest of their articles."""

    todo: list[Article]
    others: list[Article]
    counts: dict[str, int]

    @property
    def todo_total(self) -> int:
        return sum(self.counts.get(s, 0) for s in WRITER_TODO)

    @property
    def others_total(self) -> int:
        return sum(n for s, n in self.counts.items() if s not in WRITER_TODO)


def writer_work(user, limit: int = SECTION_LIMIT) -> WriterWork:
    """Drafts and articles with changes requested (changes requested first), then the writer's
    other articles, newest update first. Three queries."""
    mine = Article.writer_id == user.id
    todo = list(db.session.scalars(
        select(Article).where(mine, Article.state.in_(WRITER_TODO)).options(*list_options())
        .order_by((Article.state == S.CHANGES_REQUESTED.value).desc(), Article.updated_at.desc(), Article.id.desc())
        .limit(limit)
    ).unique())
    others = list(db.session.scalars(
        select(Article).where(mine, Article.state.not_in(WRITER_TODO)).options(*list_options())
        .order_by(Article.updated_at.desc(), Article.id.desc()).limit(limit)
    ).unique())
    return WriterWork(todo, others, _state_counts(mine))


@dataclass
class EditorWork:
    """An editor's dashboard: articles waiting for a reviewer and approved articles ready to publish."""

    waiting: list[Article]
    ready: list[Article]
    counts: dict[str, int]
    rereviews_total: int


def editor_work(limit: int = SECTION_LIMIT) -> EditorWork:
    """Submitted articles (no active reviewer yet) and approved ones, longest waiting first. Four queries.

    The re-reviews themselves come from ``publishing.services.rereviews_due``; only their count is here.
    """
    def waiting_in(state: str) -> list[Article]:
        return list(db.session.scalars(
            select(Article).where(Article.state == state).options(*list_options())
            .order_by(Article.updated_at, Article.id).limit(limit)
        ).unique())

    rereviews = db.session.scalar(select(func.count()).select_from(Article).where(
        Article.live_version.is_not(None),
        Article.rereview_due <= _today() + timedelta(days=REREVIEW_HORIZON_DAYS))) or 0
    # Only the two states the dashboard counts: an index range of a few rows, not every article grouped.
    counts = _state_counts(Article.state.in_((S.SUBMITTED.value, S.APPROVED.value)))
    return EditorWork(waiting_in(S.SUBMITTED.value), waiting_in(S.APPROVED.value), counts, rereviews)

