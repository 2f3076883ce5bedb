"""This process's finished public pages, kept while nothing readers see has changed.

Every change a reader could see (a publish, an unpublish, a re-reviewed version, a reviewer's
public profile, the site's settings) bumps one counter, ``public_state.generation``, in the same
transaction (``public_changed``, also called by a flush listener for the models that show on public
pages). Each process remembers the counter it last read and reads it again at most once per
``ttl`` (``PUBLIC_CACHE_SECONDS``, one second): an entry whose time is up is renewed, not rebuilt,
when the counter has not moved since it was built. So a busy site serves every live article from
memory, and a change reaches every worker of every server within ``ttl`` (plus the browser's
own one second of ``max-age``: the two seconds of PRODUCT.md).

Entries are tagged with the counter read *before* they were built (``get`` on a miss reads it),
so a page built from data older than a change is never tagged as newer. The cache is bounded by
entries and by bytes, least recently used first out; the bound is stated in the README.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from flask import Flask, current_app, has_app_context
from sqlalchemy import event, inspect, text
from sqlalchemy.orm import Session

from reviewflow.extensions import db

#: The session flag that asks for a bump of the counter in the flush that follows.
CHANGED_KEY = "reviewflow.public_changed"
#: Models whose rows show on public pages, and for some the only attributes that do.
PUBLIC_MODELS = {
    "PublishedVersion": None, "PublishedReview": None, "SiteSetting": None, "ReviewerProfile": None,
    "User": {"name", "bio", "active"}, "Article": {"live_version", "unpublished_at", "unpublish_reason", "slug"},
}
ENTRY_OVERHEAD = 512


def _size(value) -> int:
    body = getattr(value, "body", None)
    if isinstance(body, bytes | str):
        return len(body) + ENTRY_OVERHEAD
    main = getattr(value, "main", None)
    return (len(main) if isinstance(main, str) else 0) + 4 * ENTRY_OVERHEAD


class TTLCache:
    """A per-process cache whose entries live ``ttl`` seconds, renewed while ``generation()`` (the
    public counter, when given) is unchanged since they were built; at most ``size`` entries and
    ``max_bytes`` bytes, least recently used first out. ``clock`` is injectable for tests."""

    def __init__(self, ttl: float, size: int = 2048, clock: Callable[[], float] = time.monotonic,
                 generation: Callable[[], int | None] | None = None, max_bytes: int = 1 << 62) -> None:
        self.ttl, self.size, self.clock, self.generation, self.max_bytes = ttl, size, clock, generation, max_bytes
        self.data: OrderedDict = OrderedDict()  # key -> [expires, value, generation, size]
        self.bytes = 0
        self.known: int | None = None
        self.checked_at = float("-inf")
        self.pending: dict = {}

    def _current(self) -> int | None:
        """The counter as read at most ``ttl`` ago (read now if older); None when it cannot be read."""
        now = self.clock()
        if now - self.checked_at >= self.ttl:
            try:
                self.known = self.generation()
            except Exception:  # the database is away: nothing can be renewed, nothing is trusted
                self.known = None
            self.checked_at = now
        return self.known

    def get(self, key):
        hit = self.data.get(key)
        now = self.clock()
        if hit is not None and hit[0] <= now and self.generation is not None:
            current = self._current()
            if current is not None and current == hit[2]:
                hit[0] = self.checked_at + self.ttl  # renewed until this reading of the counter is a ttl old
        if hit is not None and hit[0] > now:
            self.data.move_to_end(key)
            return hit[1]
        if hit is not None:
            self._drop(key)
        if self.generation is not None:
            self.pending[key] = self._current()
        return None

    def expiry(self, key) -> float:
        """When the entry under ``key`` stops being served without a look at the counter (now, if none)."""
        hit = self.data.get(key)
        return hit[0] if hit else self.clock()

    def put(self, key, value, until: float | None = None) -> None:
        """Keep ``value`` for ``ttl`` seconds, or until ``until`` if that is sooner (an entry derived
        from another lives no longer than its source); then as long as the counter holds."""
        generation = self.pending.pop(key) if key in self.pending else self._current()
        if self.generation is not None and generation is None:
            return  # built while the counter could not be read: not kept
        if key in self.data:
            self._drop(key)
        size = _size(value)
        while self.data and (len(self.data) >= self.size or self.bytes + size > self.max_bytes):
            self._drop(next(iter(self.data)))
        expires = self.clock() + self.ttl
        self.data[key] = [expires if until is None else min(until, expires), value, generation, size]
        self.bytes += size

    def _drop(self, key) -> None:
        entry = self.data.pop(key, None)
        if entry is not None:
            self.bytes -= entry[3]

    def clear(self) -> None:
        self.data.clear()
        self.pending.clear()
        self.bytes = 0
        self.checked_at = float("-inf")


def generation_reader(engine) -> Callable[[], int | None]:
    """Reads ``public_state.generation`` on its own short connection (no app context needed: the
    fast path asks before Flask is involved)."""
    query = text("SELECT generation FROM public_state WHERE id = 1")

    def read() -> int | None:
        with engine.connect() as conn:
            return conn.execute(query).scalar()

    return read


def public_changed(session=None) -> None:
    """Note that what readers see changes in this transaction: the counter is bumped at the next flush
    (in the same transaction, just before it commits), and this process's cache is emptied once it commits."""
    (session or db.session).info[CHANGED_KEY] = True


def _shows_publicly(obj) -> bool:
    attrs = PUBLIC_MODELS.get(type(obj).__name__, False)
    if attrs is False:
        return False
    if attrs is None:
        return True
    state = inspect(obj)
    if state.transient or state.pending:
        return type(obj).__name__ != "Article"  # a new article is not public yet
    return any(state.attrs[name].history.has_changes() for name in attrs if name in state.attrs)


@event.listens_for(Session, "before_flush")
def _note_public_changes(session, flush_context, instances) -> None:
    if session.info.get(CHANGED_KEY) == "bumped":
        return
    if any(_shows_publicly(obj) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info[CHANGED_KEY] = True


@event.listens_for(Session, "before_commit")
def _bump(session) -> None:
    """The counter moves in the transaction that made the change, once however many changes it holds."""
    session.flush()  # the last changes are looked at (before_flush) before deciding
    if session.info.get(CHANGED_KEY) is True:
        session.execute(text("UPDATE public_state SET generation = generation + 1 WHERE id = 1"))
        session.info[CHANGED_KEY] = "bumped"


CACHE_KEY = "reviewflow.public_cache"


def public_cache(app: Flask | None = None) -> TTLCache:
    """This process's cache of finished public pages, one per app (``TTLCache`` above): entries
    renewed every ``PUBLIC_CACHE_SECONDS`` while the public counter holds, bounded by
    ``PUBLIC_CACHE_ENTRIES`` and ``PUBLIC_CACHE_MAX_BYTES``."""
    app = app or current_app
    cache = app.extensions.get(CACHE_KEY)
    if cache is None:
        with app.app_context():
            reader = generation_reader(db.engine)
        cache = app.extensions[CACHE_KEY] = TTLCache(
            app.config.get("PUBLIC_CACHE_SECONDS", 1.0), size=app.config.get("PUBLIC_CACHE_ENTRIES", 20000),
            generation=reader, max_bytes=app.config.get("PUBLIC_CACHE_MAX_BYTES", 256 << 20))
    return cache


@event.listens_for(Session, "after_commit")
def _clear_public_cache(session) -> None:
    if session.info.pop(CHANGED_KEY, False) and has_app_context():
        cache = current_app.extensions.get(CACHE_KEY)
        if cache is not None:
            cache.clear()


@event.listens_for(Session, "after_rollback")
def _forget_public_change(session) -> None:
    session.info.pop(CHANGED_KEY, None)
