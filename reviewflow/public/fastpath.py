"""Finished public pages for anonymous readers, served before Flask does any work.

A published version never changes, so its page is the same bytes for every reader who is not
signed in. The first anonymous request anywhere renders it through Flask as usual; the view hands
the finished page to this middleware (``share``: its scope, and for a live article the page with
its "more articles" left out, ``public.aside``), which keeps status, headers and body in the
process's cache (``pagecache.TTLCache``) and in the shared store (``store.FinishedStore``). A
process that does not hold a page asks the store, one indexed query, before rendering: so a
restarted worker, or one that has just evicted a changed article, does not render what another
has already finished.

Later anonymous requests for the same address are answered from memory, including conditional
requests (304) and HEAD, without a request context, a session, a template or the database (but the
counter's read at most once a second). They carry the headers Flask sent the first time, so browsers
and shared caches get the same ``Cache-Control`` (``public.feeds.PUBLIC_CACHE``: one second, then
revalidate), ETag and Last-Modified either way; a 304 repeats those. A live article's ETag ends in a
hash of its "more articles", which change with other articles.

Staleness: an entry lives until a change of its scope evicts it (``pagecache``), which every process
learns within ``PUBLIC_CACHE_SECONDS`` of the commit; when the counter cannot be read, nothing is
served from memory and the request goes to Flask (which answers 503 while the database is away).
Anything personal never enters: a request with a session or remember-me cookie, or a method other
than GET and HEAD goes straight to Flask, and only responses the view marked are kept. Query strings
are part of the key, on the article list only (``/articles?before=…``); such pages stay in memory.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from werkzeug.http import parse_date

from reviewflow.public.pagecache import LISTS

#: The environ key a view sets (to a ``Share``) to hand its response to the fast path.
SHARE_KEY = "reviewflow.share"
#: Headers that belong to one request and are made afresh for each answer from the cache.
PER_REQUEST = {"x-request-id", "set-cookie", "content-length"}
#: Headers a 304 repeats (RFC 9110 section 15.4.5).
NOT_MODIFIED_KEEP = {"cache-control", "etag", "expires", "vary", "last-modified", "content-location"}
#: Public documents outside ``/articles`` answered from finished responses too.
DOCUMENTS = frozenset({"/feed.atom", "/feed.json", "/sitemap.xml", "/robots.txt"})


@dataclass(frozen=True)
class Share:
    """What a view hands over: the scope its page shows (``pagecache``), and for a live article the page
    split around its place-holders (``aside.split``) with the article and topic whose lists go in, and
    the ETag before the lists' hash is added."""

    scope: int
    parts: tuple[str, str, str] | None = None
    aside: tuple[int, str] | None = None
    etag: str | None = None


@dataclass(frozen=True)
class Entry:
    status: str
    headers: tuple[tuple[str, str], ...]
    parts: tuple[bytes, ...]
    etag: str | None
    last_modified: str | None
    scope: int | None = None
    aside: tuple[int, str] | None = None

    def not_modified(self, environ, etag: str | None = None) -> bool:
        etag = etag or self.etag
        match = environ.get("HTTP_IF_NONE_MATCH")
        if match is not None:
            return etag is not None and (match.strip() == "*" or etag in
                                         (t.strip().removeprefix("W/") for t in match.split(",")))
        since = environ.get("HTTP_IF_MODIFIED_SINCE")
        if since and self.last_modified:
            asked, modified = parse_date(since), parse_date(self.last_modified)
            return asked is not None and modified is not None and modified <= asked
        return False

    def meta(self) -> dict:
        return {"status": self.status, "headers": [list(h) for h in self.headers], "etag": self.etag,
                "last_modified": self.last_modified, "aside": list(self.aside) if self.aside else None,
                "cuts": [len(p) for p in self.parts[:-1]]}

    @classmethod
    def from_row(cls, meta: dict, body: bytes, scope: int) -> Entry:
        aside, parts, at = meta.get("aside"), [], 0
        for cut in meta.get("cuts", []):
            parts.append(body[at:at + cut])
            at += cut
        parts = (*parts, body[at:])
        return cls(meta["status"], tuple(tuple(h) for h in meta["headers"]), parts, meta.get("etag"),
                   meta.get("last_modified"), scope, (aside[0], aside[1]) if aside else None)


def share(environ, scope: int, parts=None, aside=None, etag=None) -> None:
    """Mark this request's response as the same for every anonymous reader until ``scope`` changes."""
    environ[SHARE_KEY] = Share(scope, parts, aside, etag)


def request_id(given: str) -> str:
    """The client's ``X-Request-ID`` when it is ASCII letters, digits and hyphens (cut to 64 characters), else
    a fresh random one: it goes into the audit trail and the response."""
    bare = given.replace("-", "")
    return given[:64] if bare.isascii() and bare.isalnum() else os.urandom(16).hex()


class PublicFastPath:
    """WSGI middleware answering anonymous GET/HEAD requests for public pages from ``cache()``, then
    ``store()`` (None: no shared store), then ``app``. ``lists(cache, environ, topic)`` gives the pieces
    of a live article's "more articles" (``aside.cached_lists``, drawing them when missing)."""

    def __init__(self, app: Callable, cache: Callable, prefix: str, cookies: Iterable[str],
                 store: Callable | None = None, lists: Callable | None = None, compose: Callable | None = None,
                 origin: str | None = None) -> None:
        self.app, self.cache, self.prefix, self.origin = app, cache, prefix, origin
        self.store, self.lists, self.compose = store or (lambda: None), lists, compose
        self.cookies = tuple(f"{name}=" for name in cookies)

    def eligible(self, environ) -> bool:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return False
        path = environ.get("PATH_INFO", "")
        if environ.get("QUERY_STRING"):
            if path != self.prefix.rstrip("/"):
                return False
        elif not (path.startswith(self.prefix) or path == self.prefix.rstrip("/") or path in DOCUMENTS):
            return False
        cookie = environ.get("HTTP_COOKIE", "")
        return not (cookie and any(name in cookie for name in self.cookies))

    def key(self, environ) -> str:
        """The page's address. With ``PUBLIC_URL`` configured (``origin``: its scheme and host) a page is the
        public address's page, whatever the request's Host header and scheme: every server, any Host and the
        ``finish-pages`` command share one entry (and no client can make rows by inventing Hosts); in
        development the request's own scheme and host are part of it."""
        query = environ.get("QUERY_STRING", "")
        origin = self.origin or (f"{environ.get('wsgi.url_scheme')}://"
                                 f"{environ.get('HTTP_HOST') or environ.get('SERVER_NAME')}")
        return f"{origin}{environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO')}{'?' + query if query else ''}"

    def __call__(self, environ, start_response):
        if not self.eligible(environ):
            return self.app(environ, start_response)
        cache, key = self.cache(), self.key(environ)
        entry = cache.get(key)
        if entry is None and cache.known is not None and not environ.get("QUERY_STRING"):
            store = self.store()
            row = store.load(key) if store is not None else None
            if row is not None:
                entry = Entry.from_row(row[1], row[2], row[3])
                cache.put(key, entry, scope=entry.scope)
        if entry is not None:
            answer = self.answer(entry, environ, start_response)
            if answer is not None:
                return answer
        return self.render_and_keep(cache, key, environ, start_response)

    def body_of(self, entry: Entry, environ) -> tuple[bytes, str | None] | None:
        """The entry's body and ETag, its "more articles" put in; None when they cannot be drawn. What goes in
        is kept per article until the lists change (scope ``LISTS``), so a warm answer is a join."""
        if entry.aside is None:
            return entry.parts[0], entry.etag
        cache, (article_id, topic) = self.cache(), entry.aside
        key = ("composed", environ.get("SCRIPT_NAME", ""), article_id, topic)
        found = cache.get(key)
        if found is None:
            lists = self.lists(cache, environ, topic)
            if lists is None:
                return None
            layout, more, stamp = self.compose(lists, article_id)
            found = (layout.encode(), more.encode(), stamp)
            cache.put(key, found, scope=LISTS)
        head, middle, tail = entry.parts
        return b"".join((head, found[0], middle, found[1], tail)), f'"{entry.etag}-{found[2]}"'

    def answer(self, entry: Entry, environ, start_response) -> list[bytes] | None:
        found = self.body_of(entry, environ)
        if found is None:
            return None
        body, etag = found
        rid = ("X-Request-ID", request_id(environ.get("HTTP_X_REQUEST_ID", "")))
        headers = entry.headers if entry.aside is None else (*entry.headers, ("ETag", etag))
        if entry.not_modified(environ, etag):
            kept = [h for h in headers if h[0].lower() in NOT_MODIFIED_KEEP]
            start_response("304 NOT MODIFIED", [*kept, rid])
            return []
        start_response(entry.status, [*headers, ("Content-Length", str(len(body))), rid])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    def render_and_keep(self, cache, key: str, environ, start_response):
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=headers)
            return start_response(status, headers, exc_info)

        seen = cache.known
        body = self.app(environ, capture)
        shared: Share | None = environ.get(SHARE_KEY)
        if shared is None or environ["REQUEST_METHOD"] != "GET" or not captured["status"].startswith(("200", "410")):
            return body
        try:
            chunks = list(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        drop = PER_REQUEST | ({"etag"} if shared.aside else set())
        headers = tuple((k, v) for k, v in captured["headers"] if k.lower() not in drop)
        found = {k.lower(): v for k, v in captured["headers"]}
        if shared.aside:
            parts = tuple(p.encode() for p in shared.parts)
            etag = shared.etag
        else:
            parts, etag = (b"".join(chunks),), found.get("etag")
        entry = Entry(captured["status"], headers, parts, etag, found.get("last-modified"), shared.scope,
                      shared.aside)
        kept = cache.put(key, entry, scope=shared.scope)
        # Shared: pages without a query string; a 410 only at an article's own address (any /v<n> under
        # a withdrawn article answers it, and they are not worth a row each).
        if kept and seen is not None and not environ.get("QUERY_STRING") and (
                captured["status"].startswith("200") or environ.get("PATH_INFO", "").count("/") == 2):
            store = self.store()
            if store is not None:
                store.save(key, shared.scope, seen, int(captured["status"][:3]), entry.meta(), b"".join(parts))
        return chunks
