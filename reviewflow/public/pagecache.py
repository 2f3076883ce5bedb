"""Finished public pages: this process's memory, the shared store beside it, and how both learn of changes.

Every change a reader could see (a publish, a re-review, an unpublish, a reviewer's or writer's
public profile, the site's settings) bumps one counter, ``public_state.generation``, in the same
transaction, and records *what* it changed in ``page_stamps``: the counter's new value beside each
scope it touched. A scope is an article's id (its pages), ``LISTS`` (the index, topic pages, feeds,
sitemap and the "more articles" lists beside every article) or ``SITE`` (everything). A publish of
article A stamps A and LISTS; a reviewer's profile stamps every article they wrote or reviewed;
the site's settings stamp SITE. The same transaction deletes the shared rows of those scopes.

Each process remembers the counter it last read and reads it again at most once per ``ttl``
(``PUBLIC_CACHE_SECONDS``, one second); when it moved, one more query names the scopes stamped since,
and only their entries are evicted (all of them for SITE, or when the counter could not be read).
So a change reaches every worker of every server within ``ttl`` (plus the browser's own second of
``max-age``: the two seconds of PRODUCT.md), and a busy newsroom does not keep the site cold.

Races: an entry is kept only when no counter move was seen between the look-up that missed (which
notes the counter then) and the ``put``, so a page built from data older than a change is never kept
past it; a shared row carries the counter read before it was built and is served only while that is
at least its scope's stamp and the site's (``store.FinishedStore.load``: one indexed query).
"""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from flask import Flask, current_app, has_app_context
from sqlalchemy import bindparam, event, inspect, text
from sqlalchemy.orm import Session

from reviewflow.extensions import db

#: Scopes that are not an article: everything, and the lists of live articles.
SITE, LISTS = 0, -1
#: The session key holding the scopes this transaction changed (flushed into the stamps at commit).
CHANGED_KEY = "reviewflow.public_changed"
#: The session key holding the scopes the transaction stamped, for this process once it commits.
STAMPED_KEY = "reviewflow.public_stamped"
#: Models whose rows show on public pages, and for some the only attributes that do.
PUBLIC_MODELS = {
    "PublishedVersion": None, "PublishedReview": None, "SiteSetting": None, "ReviewerProfile": None,
    "User": {"name", "bio", "active"}, "Article": {"live_version", "unpublished_at", "unpublish_reason", "slug"},
}
ENTRY_OVERHEAD = 512


def _size(value) -> int:
    if isinstance(value, tuple) and value and isinstance(value[0], bytes):
        return sum(len(v) for v in value if isinstance(v, bytes)) + ENTRY_OVERHEAD
    parts = getattr(value, "parts", None)
    if parts is not None:
        return sum(len(p) for p in parts) + ENTRY_OVERHEAD
    main = getattr(value, "main", None)
    return (len(main) if isinstance(main, str) else 0) + 4 * ENTRY_OVERHEAD


class TTLCache:
    """This process's public entries: each under a scope (None: evicted by any change), valid while the
    public counter was read less than ``ttl`` ago; when it moved, ``changes(since)`` names the scopes to
    evict. At most ``size`` entries and ``max_bytes`` bytes, least recently used first out. ``clock`` is
    injectable for tests; without ``generation`` entries simply live ``ttl`` seconds."""

    def __init__(self, ttl: float, size: int = 2048, clock: Callable[[], float] = time.monotonic,
                 generation: Callable[[], int | None] | None = None,
                 changes: Callable[[int], Iterable[int]] | None = None, max_bytes: int = 1 << 62) -> None:
        self.ttl, self.size, self.clock, self.max_bytes = ttl, size, clock, max_bytes
        self.generation, self.changes = generation, changes
        self.data: OrderedDict = OrderedDict()  # key -> [value, scope, size, expires]
        self.scopes: dict = {}  # scope -> set of keys
        self.bytes = 0
        self.known: int | None = None
        self.checked_at = float("-inf")
        self.pending: dict = {}

    # The counter -----------------------------------------------------------------------------------

    def refresh(self) -> int | None:
        """The counter as read at most ``ttl`` ago: read now if older, evicting what changed since."""
        now = self.clock()
        if now - self.checked_at < self.ttl or self.generation is None:
            return self.known
        try:
            current = self.generation()
            changed = None
            if current is not None and self.known is not None and current != self.known:
                changed = set(self.changes(self.known)) if self.changes else {SITE}
        except Exception:  # the database is away: nothing is trusted, nothing is kept
            current, changed = None, {SITE}
        if current is None or self.known is None:
            self._empty()
        elif changed:
            self.evict(changed)
        self.known, self.checked_at = current, now
        return current

    def evict(self, scopes: Iterable[int]) -> None:
        """Drop the entries of ``scopes`` and those under no scope; everything for ``SITE``."""
        scopes = set(scopes)
        if SITE in scopes:
            self._empty()
            return
        for scope in (*scopes, None):
            for key in list(self.scopes.get(scope, ())):
                self._drop(key)

    # Entries ---------------------------------------------------------------------------------------

    def get(self, key):
        current = self.refresh()
        hit = self.data.get(key)
        if hit is not None and self.generation is None and hit[3] <= self.clock():
            self._drop(key)
            hit = None
        if hit is not None:
            self.data.move_to_end(key)
            return hit[0]
        if self.generation is not None:
            self.pending[key] = current
        return None

    def put(self, key, value, scope: int | None = None) -> bool:
        """Keep ``value`` under ``scope`` (None: any change evicts it), unless the counter moved since the
        look-up that missed ``key`` or could not be read: the value may then be older than a change."""
        if self.generation is not None:
            current = self.refresh()
            seen = self.pending.pop(key, current)
            if current is None or seen != current:
                return False
        if len(self.pending) > 4 * self.size:
            self.pending.clear()
        self._drop(key)
        size = _size(value)
        while self.data and (len(self.data) >= self.size or self.bytes + size > self.max_bytes):
            self._drop(next(iter(self.data)))
        self.data[key] = [value, scope, size, self.clock() + self.ttl]
        self.scopes.setdefault(scope, set()).add(key)
        self.bytes += size
        return True

    def _drop(self, key) -> None:
        entry = self.data.pop(key, None)
        if entry is not None:
            self.bytes -= entry[2]
            keys = self.scopes.get(entry[1])
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.scopes[entry[1]]

    def _empty(self) -> None:
        self.data.clear()
        self.scopes.clear()
        self.pending.clear()
        self.bytes = 0

    def clear(self) -> None:
        self._empty()
        self.known, self.checked_at = None, float("-inf")


# Reading the counter and the stamps ---------------------------------------------------------------------

def generation_reader(engine) -> Callable[[], int | None]:
    """Reads ``public_state.generation`` on its own short connection (no app context needed: the
    fast path asks before Flask is involved)."""
    query = text("SELECT generation FROM public_state WHERE id = 1")

    def read() -> int | None:
        with engine.connect() as conn:
            return conn.execute(query).scalar()

    return read


def changes_reader(engine) -> Callable[[int], list[int]]:
    """The scopes stamped after counter value ``since`` (one indexed query)."""
    query = text("SELECT scope FROM page_stamps WHERE generation > :since")

    def read(since: int) -> list[int]:
        with engine.connect() as conn:
            return list(conn.execute(query, {"since": since}).scalars())

    return read


# Recording changes ---------------------------------------------------------------------------------------

def public_changed(*scopes, session=None) -> None:
    """Note that what readers see of ``scopes`` (article ids, ``LISTS``; none given: ``SITE``) changes in
    this transaction: the counter is bumped and the scopes stamped just before it commits, and this
    process evicts them once it has."""
    pending = (session or db.session).info.setdefault(CHANGED_KEY, set())
    pending.update(scopes or (SITE,))


def _scopes_of(obj) -> set:
    name = type(obj).__name__
    attrs = PUBLIC_MODELS.get(name, False)
    if attrs is False:
        return set()
    state = inspect(obj)
    new = state.transient or state.pending
    if attrs is not None and not new and not any(
            state.attrs[a].history.has_changes() for a in attrs if a in state.attrs):
        return set()
    if name == "PublishedVersion":
        return {obj.article_id, LISTS}
    if name == "PublishedReview":
        return {("version", obj.published_version_id), LISTS}
    if name == "SiteSetting":
        return {SITE}
    if name == "ReviewerProfile":
        return {("person", obj.user_id)}
    if name == "User":
        return set() if new else {("person", obj.id)}
    return set() if new else {obj.id, LISTS}  # Article: a new one is not public yet


@event.listens_for(Session, "before_flush")
def _note_public_changes(session, flush_context, instances) -> None:
    found = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        found |= _scopes_of(obj)
    if found:
        session.info.setdefault(CHANGED_KEY, set()).update(found)


def _expand(session, tokens: set) -> set[int]:
    """Article ids, LISTS and SITE for the noted tokens: a person's are the articles they wrote or reviewed."""
    scopes = {t for t in tokens if isinstance(t, int)}
    versions = [t[1] for t in tokens if isinstance(t, tuple) and t[0] == "version" and t[1] is not None]
    people = [t[1] for t in tokens if isinstance(t, tuple) and t[0] == "person" and t[1] is not None]
    if versions:
        scopes.update(session.execute(text("SELECT article_id FROM published_versions WHERE id IN :ids")
                                      .bindparams(bindparam("ids", expanding=True)), {"ids": versions}).scalars())
    if people:
        scopes.add(LISTS)
        scopes.update(session.execute(text(
            "SELECT article_id FROM published_versions WHERE writer_id IN :ids UNION "
            "SELECT v.article_id FROM published_versions v JOIN published_reviews r ON r.published_version_id = v.id "
            "WHERE r.reviewer_id IN :ids").bindparams(bindparam("ids", expanding=True)), {"ids": people}).scalars())
    return {SITE} if SITE in scopes else scopes


@event.listens_for(Session, "before_commit")
def _bump(session) -> None:
    """The counter moves in the transaction that made the change, once however many changes it holds, and
    the scopes it touched are stamped with its new value; their shared rows go."""
    session.flush()  # the last changes are looked at (before_flush) before deciding
    tokens = session.info.pop(CHANGED_KEY, None)
    if not tokens:
        return
    scopes = _expand(session, tokens)
    session.execute(text("UPDATE public_state SET generation = generation + 1 WHERE id = 1"))
    generation = session.execute(text("SELECT generation FROM public_state WHERE id = 1")).scalar()
    ids = sorted(scopes)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        session.execute(text("DELETE FROM page_stamps WHERE scope IN :ids")
                        .bindparams(bindparam("ids", expanding=True)), {"ids": chunk})
        session.execute(text("INSERT INTO page_stamps (scope, generation) VALUES (:scope, :generation)"),
                        [{"scope": s, "generation": generation} for s in chunk])
        if SITE not in scopes:
            session.execute(text("DELETE FROM finished_pages WHERE scope IN :ids")
                            .bindparams(bindparam("ids", expanding=True)), {"ids": chunk})
    if SITE in scopes:
        session.execute(text("DELETE FROM finished_pages"))
    session.info[STAMPED_KEY] = scopes


# This process's cache -------------------------------------------------------------------------------------

CACHE_KEY = "reviewflow.public_cache"


def public_cache(app: Flask | None = None) -> TTLCache:
    """This process's cache of finished public pages, one per app (``TTLCache`` above): valid while the
    counter was read less than ``PUBLIC_CACHE_SECONDS`` ago, bounded by ``PUBLIC_CACHE_ENTRIES`` and
    ``PUBLIC_CACHE_MAX_BYTES``."""
    app = app or current_app
    cache = app.extensions.get(CACHE_KEY)
    if cache is None:
        with app.app_context():
            engine = db.engine
        cache = app.extensions[CACHE_KEY] = TTLCache(
            app.config.get("PUBLIC_CACHE_SECONDS", 1.0), size=app.config.get("PUBLIC_CACHE_ENTRIES", 20000),
            generation=generation_reader(engine), changes=changes_reader(engine),
            max_bytes=app.config.get("PUBLIC_CACHE_MAX_BYTES", 256 << 20))
    return cache


@event.listens_for(Session, "after_commit")
def _evict_here(session) -> None:
    scopes = session.info.pop(STAMPED_KEY, None)
    if scopes and has_app_context():
        cache = current_app.extensions.get(CACHE_KEY)
        if cache is not None:
            cache.evict(scopes)


@event.listens_for(Session, "after_rollback")
def _forget_public_change(session) -> None:
    session.info.pop(CHANGED_KEY, None)
    session.info.pop(STAMPED_KEY, None)
