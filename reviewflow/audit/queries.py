"""Reading the audit trail: filters, keyset pages, exports and each event in plain words.

Every query here is shaped for the indexes on ``audit_events`` so it stays fast on
millions of events: ``(article_id, seq)``, ``(actor_id, seq)``, ``(action, seq)`` and
``occurred_at``. Pages are keyset pages on ``seq`` (``seq < before`` or ``seq > after``,
``LIMIT n + 1``) and nothing counts the whole table. The list of distinct actions is a
loose index scan over ``(action, seq)``: one index probe per distinct action.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, false, func, or_, select, text

from reviewflow import paging
from reviewflow.audit.actions import BY_TEXT, Told, quoted
from reviewflow.audit.models import AuditEvent
from reviewflow.audit.services import FIELDS
from reviewflow.auth.models import User
from reviewflow.extensions import db
from reviewflow.ids import MAX_ID, as_id
from reviewflow.textrules import short_hash

PER_PAGE = 50
TIMELINE_PER_PAGE = 200
EXPORT_FORMATS = ("csv", "jsonl")


# Filters -----------------------------------------------------------------------

@dataclass
class LogFilter:
    """The filters of the global log and its exports. Blank fields filter nothing.

    ``person`` is a person's id, or text found in people's current name or email: their
    events are then read through the ``(actor_id, seq)`` index. Text that matches nobody
    (a former name, "unknown" for failed log-ins) falls back to the name recorded on each
    event. Dates are whole UTC days, both ends included; they become a ``seq`` range found
    through the ``occurred_at`` index, because events are stamped in chain order (one clock,
    under the chain-head lock), and the exact time test is kept as well.
    """

    person: str = ""
    action: str = ""
    article_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    #: Messages about values that could not be used (they are ignored, never guessed).
    errors: list[str] = field(default_factory=list)
    _conditions: list | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> LogFilter:
        """Read the filters from a query string; a bad value is ignored and explained in ``errors``."""
        f = cls(person=(args.get("person") or "").strip()[:200], action=(args.get("action") or "").strip()[:64])
        raw_article = (args.get("article") or "").strip()
        if raw_article:
            f.article_id = as_id(raw_article)
            if f.article_id is None:
                f.errors.append("The article must be given by its number, e.g. 12.")
        for name, label in (("from", "From"), ("to", "To")):
            raw = (args.get(name) or "").strip()
            if not raw:
                continue
            try:
                setattr(f, f"date_{name}", date.fromisoformat(raw))
            except ValueError:
                f.errors.append(f"“{label}” must be a date written YYYY-MM-DD.")
        if f.date_from and f.date_to and f.date_from > f.date_to:
            f.errors.append("“From” is after “To”, so no event can match; the dates were swapped.")
            f.date_from, f.date_to = f.date_to, f.date_from
        return f

    @property
    def active(self) -> bool:
        return bool(self.person or self.action or self.article_id or self.date_from or self.date_to)

    def args(self) -> dict[str, str]:
        """The filters as query-string arguments, for links that keep them."""
        values = {"person": self.person, "action": self.action,
                  "article": str(self.article_id) if self.article_id else "",
                  "from": self.date_from.isoformat() if self.date_from else "",
                  "to": self.date_to.isoformat() if self.date_to else ""}
        return {k: v for k, v in values.items() if v}

    def apply(self, stmt: Select) -> Select:
        """Add the filters to a statement over ``AuditEvent`` (the look-ups they need run once)."""
        if self._conditions is None:
            self._conditions = self._resolve()
        return stmt.where(*self._conditions) if self._conditions else stmt

    def _resolve(self) -> list:
        conditions: list = []
        if self.person:
            conditions.append(_person_condition(self.person))
        if self.action:
            conditions.append(AuditEvent.action == self.action)
        if self.article_id:
            conditions.append(AuditEvent.article_id == self.article_id)
        if self.date_from:
            start = _day_start(self.date_from)
            first = db.session.scalar(select(AuditEvent.seq).where(AuditEvent.occurred_at >= start)
                                      .order_by(AuditEvent.occurred_at, AuditEvent.seq).limit(1))
            conditions += [AuditEvent.seq >= first, AuditEvent.occurred_at >= start] if first else [false()]
        if self.date_to:
            end = _day_start(self.date_to + timedelta(days=1))
            last = db.session.scalar(select(AuditEvent.seq).where(AuditEvent.occurred_at < end)
                                     .order_by(AuditEvent.occurred_at.desc(), AuditEvent.seq.desc()).limit(1))
            conditions += [AuditEvent.seq <= last, AuditEvent.occurred_at < end] if last else [false()]
        return conditions


MAX_PEOPLE = 200


def _person_condition(person: str):
    """Events of a person by id, or of the people whose current name or email contains the text."""
    actor_id = as_id(person)
    if actor_id is not None:
        return AuditEvent.actor_id == actor_id
    text_ = person.lower()
    ids = list(db.session.scalars(
        select(User.id).where(or_(func.lower(User.name).contains(text_, autoescape=True),
                                  func.lower(User.email).contains(text_, autoescape=True)))
        .order_by(User.id).limit(MAX_PEOPLE + 1)))
    if ids and len(ids) <= MAX_PEOPLE:
        return AuditEvent.actor_id.in_(ids)
    return func.lower(AuditEvent.actor_name).contains(text_, autoescape=True)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


# Keyset pages -------------------------------------------------------------------

def _seq_key(event: AuditEvent) -> tuple[int]:
    return (event.seq,)


#: Cursors of the global log, newest first (``?before=<seq>`` pages on, ``?after=<seq>`` back), and of
#: an article's timeline, oldest first (``?after=<seq>`` pages on): plain sequence numbers.
LOG_KEYSET = paging.Keyset("", (MAX_ID,), _seq_key)
TIMELINE_KEYSET = paging.Keyset("", (MAX_ID,), _seq_key, next="after", prev="before")


@dataclass
class EventPage(paging.KeysetPage):
    """One keyset page of events; ``order`` ends the summary ("Events #9 to #5, newest first")."""

    order: str = ""

    @property
    def events(self) -> list[AuditEvent]:
        return self.items

    @property
    def summary(self) -> str:
        if not self.items:
            return ""
        first, last = self.items[0].seq, self.items[-1].seq
        return f"Events #{first}" + (f" to #{last}" if last != first else "") + self.order


def _page(stmt: Select, order, cursor: paging.Cursor | None, per_page: int) -> tuple[list, bool, bool]:
    """The page of ``stmt`` at ``cursor`` on ``seq`` (``order`` is ``paging.descending`` or ``ascending``);
    a cursor beyond the last event gives the first page."""
    def run(at: paging.Cursor | None) -> list[AuditEvent]:
        return list(db.session.scalars(order(stmt, (AuditEvent.seq,), at, at.key if at else None, per_page + 1)))

    items, has_prev, has_next = paging.fetch(run, cursor, per_page)
    return paging.fetch(run, None, per_page) if cursor is not None and not items else (items, has_prev, has_next)


def log_page(f: LogFilter, cursor: paging.Cursor | None = None, per_page: int = PER_PAGE) -> EventPage:
    """The filtered events, newest first, ``per_page`` from ``cursor`` (None: the newest page); one
    query, two when a cursor leads past the end."""
    return EventPage(*_page(f.apply(select(AuditEvent)), paging.descending, cursor, per_page),
                     order=f", newest first, up to {per_page} a page")


def article_events(article_id: int, cursor: paging.Cursor | None = None,
                   per_page: int = TIMELINE_PER_PAGE) -> EventPage:
    """One article's events, oldest first, from the ``(article_id, seq)`` index."""
    return EventPage(*_page(select(AuditEvent).where(AuditEvent.article_id == article_id), paging.ascending,
                            cursor, per_page))


def get_event(seq) -> AuditEvent | None:
    number = as_id(seq)
    if number is None:
        return None
    return db.session.scalar(select(AuditEvent).where(AuditEvent.seq == number))


def neighbours(event: AuditEvent) -> tuple[int | None, int | None]:
    """The sequence numbers of the events just before and after this one, if they exist."""
    prev_seq = db.session.scalar(select(AuditEvent.seq).where(AuditEvent.seq == event.seq - 1))
    next_seq = db.session.scalar(select(AuditEvent.seq).where(AuditEvent.seq == event.seq + 1))
    return prev_seq, next_seq


DISTINCT_ACTIONS = text(
    "WITH RECURSIVE a(action) AS ("
    " SELECT MIN(action) FROM audit_events"
    " UNION ALL"
    " SELECT (SELECT MIN(e.action) FROM audit_events e WHERE e.action > a.action) FROM a WHERE a.action IS NOT NULL"
    ") SELECT action FROM a WHERE action IS NOT NULL"
)


def distinct_actions() -> list[str]:
    """Every action present in the trail, sorted: a loose index scan, one probe per action."""
    return [row[0] for row in db.session.execute(DISTINCT_ACTIONS)]


# Export -----------------------------------------------------------------------------

def export_row(values) -> dict:
    """One event as a flat dict of its chain fields; ``occurred_at`` in ISO 8601 with its UTC offset."""
    row = dict(zip(FIELDS, values, strict=True))
    row["occurred_at"] = row["occurred_at"].isoformat()
    return row


def iter_rows(f: LogFilter | None = None, batch: int = 5000) -> Iterator[dict]:
    """The (filtered) events in chain order as export dicts, read in constant memory.

    Keyset batches on ``seq`` (``seq > last ORDER BY seq LIMIT batch``) through Core, so no
    ORM objects pile up and no cursor stays open between batches, whatever the trail's size.
    """
    stmt = select(*(getattr(AuditEvent, name) for name in FIELDS))
    stmt = (f.apply(stmt) if f else stmt).order_by(AuditEvent.seq).limit(batch)
    connection = db.session.connection()
    seq_at, last = FIELDS.index("seq"), 0
    while True:
        rows = connection.execute(stmt.where(AuditEvent.seq > last)).all()
        for values in rows:
            yield export_row(values)
        if len(rows) < batch:
            return
        last = rows[-1][seq_at]


#: How a cell a spreadsheet would run as a formula begins (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """A value as a CSV cell that a spreadsheet shows as text: None is empty, and a cell beginning
    like a formula (``FORMULA_STARTS``) gets a leading apostrophe. Titles, names and the e-mail
    addresses typed at log-in reach events as they were typed, so any of them may be an attack."""
    cell = "" if value is None else str(value)
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _row_writer(fmt: str, output):
    """A function writing one row to ``output`` as CSV (header written now) or JSON Lines."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    if fmt == "jsonl":
        return lambda row: output.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
    writer = csv.writer(output)
    writer.writerow(FIELDS)
    return lambda row: writer.writerow([csv_cell(row[name]) for name in FIELDS])


def write_export(output, fmt: str, f: LogFilter | None = None) -> int:
    """Write the (filtered) events in chain order to ``output``; returns how many.

    CSV has a header of the chain fields, writes None as an empty cell and defuses cells a
    spreadsheet would run as formulas (``csv_cell``); JSON Lines keeps every value exactly, so
    it is the one to check against the chain. Every chain field is included.
    """
    write = _row_writer(fmt, output)
    count = 0
    for row in iter_rows(f):
        write(row)
        count += 1
    return count


def iter_export(fmt: str, f: LogFilter | None = None, batch: int = 500) -> Iterator[str]:
    """The same export as ``write_export``, as text chunks of ``batch`` events for a streamed response."""
    buffer = io.StringIO()
    write = _row_writer(fmt, buffer)
    for n, row in enumerate(iter_rows(f), start=1):
        write(row)
        if n % batch == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


# Plain words ------------------------------------------------------------------------

def details_of(event: AuditEvent) -> dict:
    """The event's details as a dict ({} when they are not a JSON object)."""
    try:
        value = json.loads(event.details or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def actor_phrase(event: AuditEvent) -> str:
    """Who acted, as the record has it: "Dana Okafor, M.D., Ph.D. (reviewer)"."""
    if event.actor_id is None and event.actor_role in ("", "system"):
        return "reviewflow (command line)"
    if event.actor_role == "anonymous" or event.actor_id is None:
        return "Someone not signed in"
    name = event.actor_name or f"Person #{event.actor_id}"
    return f"{name} ({event.actor_role})" if event.actor_role else name


def _revision(event: AuditEvent) -> str:
    """ "revision 3 (sha256 4f2a…9c1e)", or "" when the event names no revision."""
    if event.revision_number is None:
        return ""
    text_ = f"revision {event.revision_number}"
    return f"{text_} (sha256 {short_hash(event.content_hash)})" if event.content_hash else text_


def _what(event: AuditEvent, d: dict, title: str) -> str:
    """The predicate of the sentence: the action's own words (``AuditAction``), or plain facts for an
    action this version does not know (recorded by another version of reviewflow)."""
    told = Told(d, title, event.target_label or "", _revision(event))
    action = BY_TEXT.get(event.action)
    if action is not None:
        return action.tell(told)
    target = f" on {quoted(title or told.label)}" if (title or told.label) else ""
    return f"recorded {event.action}{target}" + (f", {told.rev}" if told.rev else "")


def describe(event: AuditEvent, title: str | None = None) -> str:
    """One event as a plain sentence: who (with role), did what, to which article and revision.

    ``title`` names the article; leave it out where the page is already about one article.
    Secrets never reach events, so everything said here may be shown to staff.
    """
    d = details_of(event)
    try:
        what = _what(event, d, title or "")
    except (TypeError, ValueError, KeyError, AttributeError, IndexError):  # odd details: say what we surely know
        what = f"recorded {event.action}" + (f" on {quoted(title)}" if title else "")
    sentence = f"{actor_phrase(event)} {what}"
    return sentence if sentence.endswith((".", ".”", "!”", "?”")) else sentence + "."
