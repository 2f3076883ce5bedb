"""A person's notification list, grouped by article: "3 new on ‘Managing eczema’: 2 annotations, 1 reply".

A group is every notification of one person about one article (a notification about no article is a
group of its own). Groups come newest first, by their newest notification, so new activity on an
article brings its group back to the top; the page shows each group's newest notifications with
their comments, and its counts say what is unread. Everything here reads and marks the person's own
notifications only: another person's group is "not found".
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import case, func, select, update

from reviewflow import paging
from reviewflow.errors import NotFound
from reviewflow.extensions import db, utcnow
from reviewflow.ids import as_id
from reviewflow.notifications.models import Notification
from reviewflow.notifications.services import summarise
from reviewflow.textrules import counted

#: How many of a group's notifications the page shows, newest first (the rest: "and 4 earlier").
SHOWN = 5
#: The group a notification belongs to: its article, or itself (negated, so it never meets an article's id).
GROUP = case((Notification.article_id.is_(None), -Notification.id), else_=Notification.article_id)


@dataclass
class Group:
    """One article's notifications for one person, as the page shows them."""

    #: The article's id, or minus the id of a notification about no article (the mark-read form sends it).
    key: int
    #: The newest notification's id: the group's place in the list and its cursor.
    latest: int
    total: int
    unread: int
    #: The newest ``SHOWN`` notifications, newest first.
    items: list[Notification] = field(default_factory=list)
    #: Unread (or, when all are read, all) notifications by kind, for the heading.
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def newest(self) -> Notification:
        return self.items[0]

    @property
    def title(self) -> str:
        """The article's title as its newest notification knew it; "" for a group about no article."""
        return self.newest.article_title if self.key > 0 else ""

    @property
    def url(self) -> str:
        return self.newest.url

    @property
    def headline(self) -> str:
        """ "3 new on ‘Managing eczema’: 2 annotations, 1 reply"; once read: "‘Managing eczema’: 2 annotations"."""
        if self.key < 0:
            return self.newest.text
        what = summarise(self.kinds)
        if self.unread:
            return f"{self.unread:,} new on ‘{self.title}’: {what}"
        return f"‘{self.title}’: {what}"

    @property
    def earlier(self) -> int:
        """How many of the group's notifications the page does not show."""
        return self.total - len(self.items)

    @property
    def earlier_text(self) -> str:
        return f"and {counted(self.earlier, 'earlier notification')}" if self.earlier else ""


def _group_key(group: Group) -> tuple[int]:
    return (group.latest,)


#: Cursors of the notification list: ``n<id of a group's newest notification>``.
KEYSET = paging.Keyset("n", (paging.MAX_ID,), _group_key)


def _groups_of(user):
    """A subquery: the person's groups, each with its newest id, its count and its unread count."""
    return (select(GROUP.label("key"), func.max(Notification.id).label("latest"), func.count().label("total"),
                   func.count(case((Notification.read_at.is_(None), 1))).label("unread"))
            .where(Notification.user_id == user.id).group_by(GROUP).subquery())


def groups_page(user, cursor: paging.Cursor | None = None, per_page: int = 25) -> paging.KeysetPage:
    """The person's notifications grouped by article, newest group first, keyset-paginated on each
    group's newest id from ``cursor``; ``total`` counts groups. Four queries: the count, the groups,
    their kinds and their newest notifications."""
    groups = _groups_of(user)
    total = db.session.scalar(select(func.count()).select_from(groups)) or 0

    def run(at: paging.Cursor | None) -> list[Group]:
        stmt = select(groups)
        if at is None:
            stmt = stmt.order_by(groups.c.latest.desc())
        elif at.backward:
            stmt = stmt.where(groups.c.latest > at.key[0]).order_by(groups.c.latest.asc())
        else:
            stmt = stmt.where(groups.c.latest < at.key[0]).order_by(groups.c.latest.desc())
        rows = db.session.execute(stmt.limit(per_page + 1))
        return [Group(row.key, row.latest, row.total, row.unread) for row in rows]

    page = paging.KeysetPage(*paging.fetch(run, cursor, per_page), total, "group")
    _fill(user, page.items)
    return page


def _fill(user, groups: list[Group]) -> None:
    """Load each group's kinds and its newest ``SHOWN`` notifications."""
    if not groups:
        return
    by_key = {g.key: g for g in groups}
    mine = (Notification.user_id == user.id, GROUP.in_(list(by_key)))
    kinds = db.session.execute(
        select(GROUP, Notification.kind, func.count(), func.count(case((Notification.read_at.is_(None), 1))))
        .where(*mine).group_by(GROUP, Notification.kind))
    for key, kind, count, unread in kinds:
        group = by_key[key]
        n = unread if group.unread else count
        if n:
            group.kinds[kind] = n
    place = func.row_number().over(partition_by=GROUP, order_by=Notification.id.desc()).label("place")
    newest = select(Notification.id, place).where(*mine).subquery()
    rows = db.session.scalars(select(Notification).join(newest, newest.c.id == Notification.id)
                              .where(newest.c.place <= SHOWN).order_by(Notification.id.desc()))
    shown = defaultdict(list)
    for note in rows:
        shown[note.article_id if note.article_id is not None else -note.id].append(note)
    for group in groups:
        group.items = shown[group.key]


def mark_group_read(user, article=None, notification=None) -> int:
    """Mark read the person's unread notifications about ``article`` (an id as sent by a form), or
    the one ``notification`` about no article; returns how many were unread. NotFound (404) when the
    person has no such notification (someone else's is not found either). Never commits."""
    article_id, notification_id = as_id(article), as_id(notification)
    if (article_id is None) == (notification_id is None):
        raise NotFound("There is no such notification.")
    key = article_id if article_id is not None else -notification_id
    mine = (Notification.user_id == user.id, key == GROUP)
    if not db.session.scalar(select(func.count()).select_from(Notification).where(*mine)):
        raise NotFound("There is no such notification.")
    return db.session.execute(update(Notification).where(*mine, Notification.read_at.is_(None))
                              .values(read_at=utcnow()).execution_options(synchronize_session=False)).rowcount
