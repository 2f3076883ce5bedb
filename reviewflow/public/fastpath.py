"""Finished public pages for anonymous readers, served before Flask does any work.

A published version never changes, so its page is the same bytes for every reader who is not
signed in. The first anonymous request renders it through Flask as usual; the view marks the
response as shareable (``share``) with the time its content stops being trusted, and this
middleware keeps the finished status, headers and body in the process's ``TTLCache``. Later
anonymous requests for the same address are answered from there, including conditional
requests (304), without a request context, a session, the database or a template. They carry
the headers Flask sent the first time, so browsers and shared caches get the same
``Cache-Control`` (``public.feeds.PUBLIC_CACHE``: one second, then revalidate), ETag and
Last-Modified either way; a 304 repeats those.

Staleness is bounded the same way as the page cache (``public.pagecache``): an entry lives
no longer than the page parts it was built from, a publish or unpublish in this process empties
the cache when it commits, and in other processes an entry is renewed every
``PUBLIC_CACHE_SECONDS`` (one second) only while the public counter, bumped by every change readers
could see, has not moved. Anything personal never enters: a request with a session or remember-me
cookie, a query string, or a method other than GET and HEAD goes straight to Flask, and only
responses the view marked are kept.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from werkzeug.http import parse_date

#: The environ key a view sets (to the entry's expiry, on the cache's clock) to share its response.
SHARE_KEY = "reviewflow.share_until"
#: Headers that belong to one request and are made afresh for each answer from the cache.
PER_REQUEST = {"x-request-id", "set-cookie", "content-length"}
#: Headers a 304 repeats (RFC 9110 section 15.4.5).
NOT_MODIFIED_KEEP = {"cache-control", "etag", "expires", "vary", "last-modified", "content-location"}


@dataclass(frozen=True)
class Entry:
    status: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    etag: str | None
    last_modified: str | None

    def not_modified(self, environ) -> bool:
        match = environ.get("HTTP_IF_NONE_MATCH")
        if match is not None:
            return self.etag is not None and (match.strip() == "*" or self.etag in
                                              (t.strip().removeprefix("W/") for t in match.split(",")))
        since = environ.get("HTTP_IF_MODIFIED_SINCE")
        if since and self.last_modified:
            asked, modified = parse_date(since), parse_date(self.last_modified)
            return asked is not None and modified is not None and modified <= asked
        return False


def share(environ, until: float) -> None:
    """Mark this request's response as the same for every anonymous reader until ``until``."""
    environ[SHARE_KEY] = until


def request_id(given: str) -> str:
    """The client's ``X-Request-ID`` when it is letters, digits and hyphens (cut to 64 characters), else a
    fresh random one: it goes into the audit trail and the response."""
    return given[:64] if given and given.replace("-", "").isalnum() else os.urandom(16).hex()


class PublicFastPath:
    """WSGI middleware answering anonymous GET/HEAD requests under ``prefix`` from ``cache()``."""

    def __init__(self, app: Callable, cache: Callable, prefix: str, cookies: Iterable[str]) -> None:
        self.app, self.cache, self.prefix = app, cache, prefix
        self.cookies = tuple(f"{name}=" for name in cookies)

    def eligible(self, environ) -> bool:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD") or environ.get("QUERY_STRING"):
            return False
        if not environ.get("PATH_INFO", "").startswith(self.prefix):
            return False
        cookie = environ.get("HTTP_COOKIE", "")
        return not (cookie and any(name in cookie for name in self.cookies))

    @staticmethod
    def key(environ) -> tuple:
        return ("response", environ.get("wsgi.url_scheme"), environ.get("HTTP_HOST") or environ.get("SERVER_NAME"),
                environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO"))

    def __call__(self, environ, start_response):
        if not self.eligible(environ):
            return self.app(environ, start_response)
        cache, key = self.cache(), self.key(environ)
        entry = cache.get(key)
        if entry is not None:
            return self.answer(entry, environ, start_response)
        return self.render_and_keep(cache, key, environ, start_response)

    def answer(self, entry: Entry, environ, start_response) -> list[bytes]:
        rid = ("X-Request-ID", request_id(environ.get("HTTP_X_REQUEST_ID", "")))
        if entry.not_modified(environ):
            headers = [h for h in entry.headers if h[0].lower() in NOT_MODIFIED_KEEP]
            start_response("304 NOT MODIFIED", [*headers, rid])
            return []
        start_response(entry.status, [*entry.headers, ("Content-Length", str(len(entry.body))), rid])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [entry.body]

    def render_and_keep(self, cache, key: tuple, environ, start_response):
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=headers)
            return start_response(status, headers, exc_info)

        body = self.app(environ, capture)
        until = environ.get(SHARE_KEY)
        if until is None or environ["REQUEST_METHOD"] != "GET" or not captured["status"].startswith(("200", "410")):
            return body
        try:
            chunks = list(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        headers = tuple((k, v) for k, v in captured["headers"] if k.lower() not in PER_REQUEST)
        found = {k.lower(): v for k, v in headers}
        cache.put(key, Entry(captured["status"], headers, b"".join(chunks), found.get("etag"),
                             found.get("last-modified")), until=until)
        return chunks
