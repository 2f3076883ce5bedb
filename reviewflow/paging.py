"""Keyset pagination for every list: the public article lists, the article index, notifications,
the review queue, the audit log and timeline, the mail queue and webhook deliveries.

A page is the ``per_page`` rows that follow (or precede) one row in the list's order, found with
a WHERE on the sort key and ``LIMIT per_page + 1`` (the extra row says whether more follow). The
database walks an index from that row and stops after the page, however deep the reader has
paged; OFFSET would read and throw away every row before the page, and lose or repeat rows
when the list changes between two clicks.

Links carry the sort key of the row at the page's edge as a cursor: a letter naming the list,
then the key as integers joined by dots (``?before=a1764543600000000.42``; the public lists and the
audit trail, whose links are older than the letters, have none: ``?before=1764543600000000.42``,
``?before=42``). A cursor that is not
exactly that, or whose numbers are out of range, is ignored and the first page is shown: an
edited, truncated or foreign link never errors.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask import url_for
from sqlalchemy import and_, or_

from reviewflow.ids import MAX_ID as MAX_ID  # re-exported: the bound of id keys
from reviewflow.textrules import counted

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: The last instant a datetime holds, in microseconds since 1970.
MAX_MICROS = (datetime.max.replace(tzinfo=UTC) - EPOCH) // _MICROSECOND
MAX_ORDINAL = date.max.toordinal()


def micros(when: datetime) -> int:
    """An aware datetime as whole microseconds since 1970 (a cursor holds integers only)."""
    return (when - EPOCH) // _MICROSECOND


def moment(value: int) -> datetime:
    """The inverse of ``micros`` (``value`` already checked against ``MAX_MICROS``)."""
    return EPOCH + value * _MICROSECOND


@dataclass(frozen=True)
class Cursor:
    """A position in a list: the sort key of one row, and which side of that row the page lies on."""

    key: tuple[int, ...]
    #: True for the page before the row (a "previous" link), False for the page after it.
    backward: bool = False


@dataclass(frozen=True)
class Keyset:
    """How one list writes its cursors: the list's letter, the largest value of each integer of the
    key (their count is the key's length), the row's key, and the query-string names of "the page
    after this row" and "the page before it". A newest-first list pages on to older rows, so its
    "next" is ``before``; a list in ascending order pages on with ``after``."""

    tag: str
    bounds: tuple[int, ...]
    key_of: Callable[[object], tuple[int, ...]]
    next: str = "before"
    prev: str = "after"

    def encode(self, row) -> str:
        return self.tag + ".".join(str(n) for n in self.key_of(row))

    def decode(self, value: str) -> tuple[int, ...] | None:
        """The key in ``value``; None unless it is this list's letter and exactly its integers, each
        written without leading zeros and within its bound."""
        numbers = r"\.".join([r"(0|[1-9]\d{0,18})"] * len(self.bounds))
        match = re.fullmatch(re.escape(self.tag) + numbers, value, flags=re.ASCII)
        if not match:
            return None
        key = tuple(int(n) for n in match.groups())
        return key if all(n <= bound for n, bound in zip(key, self.bounds, strict=True)) else None

    def read(self, args) -> Cursor | None:
        """The cursor in the query string ``args``; None (the first page) when there is none, when
        both directions or a repeated parameter are given, or when the value does not decode."""
        given = [(name, args.getlist(name)) for name in (self.next, self.prev) if name in args]
        if len(given) != 1 or len(given[0][1]) != 1:
            return None
        name, (value,) = given[0]
        key = self.decode(value)
        return Cursor(key, backward=name == self.prev) if key is not None else None

    def link(self, page: KeysetPage, endpoint: str, **args) -> KeysetPage:
        """Fill in the page's previous and next links; ``args`` (the list's filters) are kept in both.
        An empty page past the end links back to the first page."""
        if page.has_prev:
            page.prev_url = url_for(endpoint, **args, **({self.prev: self.encode(page.items[0])} if page.items else {}))
        if page.has_next and page.items:
            page.next_url = url_for(endpoint, **args, **{self.next: self.encode(page.items[-1])})
        return page


@dataclass
class KeysetPage:
    """One page of a keyset-paginated list, in the shape the ``pagination`` macro draws."""

    items: list
    #: Rows lie before this page in the list's order (it is not the first page).
    has_prev: bool
    #: Rows lie after this page.
    has_next: bool
    #: Every row of the list (one indexed count), for the summary and the empty page.
    total: int = 0
    #: What a row is, for the summary: "article" gives "1 article", "3 articles".
    noun: str = "item"
    prev_url: str | None = None
    next_url: str | None = None

    @property
    def summary(self) -> str:
        if not self.items:
            return ""
        if not (self.has_prev or self.has_next):
            return counted(self.total, self.noun)
        return f"Showing {len(self.items)} of {counted(self.total, self.noun)}"


def fetch(run: Callable[[Cursor | None], list], cursor: Cursor | None, per_page: int) -> tuple[list, bool, bool]:
    """The rows of the page at ``cursor`` in the list's order, whether rows lie before them and
    whether rows lie after them: ``(items, has_prev, has_next)``.

    ``run(cursor)`` returns up to ``per_page + 1`` rows from the cursor outwards: in the list's
    order for the first page and a forward cursor, in reverse for a backward one. A backward
    page that reaches the start of the list with fewer than ``per_page`` rows (rows left the
    list meanwhile, or the cursor lies before the first row) is replaced by the first page, so
    "previous" always ends on a full first page. A forward page past the end is empty: the
    caller shows its empty state with a link to the first page.
    """
    rows = run(cursor)
    more, rows = len(rows) > per_page, rows[:per_page]
    if cursor is None:
        return rows, False, more
    if not cursor.backward:
        return rows, True, more
    if more or len(rows) == per_page:
        return rows[::-1], more, True
    return fetch(run, None, per_page)


def descending(stmt, columns: Sequence, cursor: Cursor | None, values: Sequence | None, limit: int):
    """``stmt`` in descending order of ``columns`` (the last one unique, so the order is total) and
    limited to ``limit`` rows from the cursor outwards: older rows for a forward cursor, newer
    ones, nearest first, for a backward one. ``values`` is the cursor's key as column values."""
    return _ordered(stmt, columns, cursor, values, limit, desc=True)


def ascending(stmt, columns: Sequence, cursor: Cursor | None, values: Sequence | None, limit: int):
    """``descending`` for a list in ascending order: later rows for a forward cursor, earlier ones,
    nearest first, for a backward one."""
    return _ordered(stmt, columns, cursor, values, limit, desc=False)


def _ordered(stmt, columns: Sequence, cursor: Cursor | None, values: Sequence | None, limit: int, desc: bool):
    towards_end = cursor is None or not cursor.backward
    by_desc = desc == towards_end
    if cursor is not None:
        stmt = stmt.where(beyond(columns, values, less=by_desc))
    return stmt.order_by(*(c.desc() if by_desc else c for c in columns)).limit(limit)


def beyond(columns: Sequence, values: Sequence, less: bool):
    """``(c1, c2, …) < (v1, v2, …)`` (or ``>``), row by row, for columns that are never NULL.

    Spelled ``c1 <= v1 AND (c1 < v1 OR (c2 …))`` so that an index on the leading column bounds
    the walk on every database, where the plain OR of cases would not.
    """
    (column, *rest), (value, *later) = columns, values
    strict = column < value if less else column > value
    if not rest:
        return strict
    return and_(column <= value if less else column >= value, or_(strict, beyond(rest, later, less)))
