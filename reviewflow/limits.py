"""The 1 MiB limit on request bodies (PRODUCT.md: 413 ``payload_too_large``), chunked bodies included.

``MAX_CONTENT_LENGTH`` (``config.py``) is enforced by Werkzeug only for a body that declares its
``Content-Length``. A chunked body has none: a server that de-chunks it (the development server,
gunicorn) sets ``wsgi.input_terminated`` and Werkzeug 3.1 wraps the stream in a ``LimitedStream``
whose ``read()`` stops quietly at the limit, so a body of 1 MiB + 1 byte reached the view cut to
1 MiB and was processed. Two pieces close that gap:

- ``BodyLimit``, a WSGI middleware around Flask, reads a terminated body of unknown length
  (no ``Content-Length``, or ``Transfer-Encoding: chunked``, which overrides it), at most the
  limit plus one byte, and hands it on as a plain body with the ``Content-Length`` it turned out
  to have (``limit + 1`` standing for "more than the limit": the rest is never read).
- ``refuse_oversized_body``, the first ``before_request`` hook, refuses any body whose length is
  over the limit, declared or counted, so no view, form or CSRF check runs on it.

Without ``wsgi.input_terminated`` a body of unknown length is never read (reading past the end
of a non-terminated stream may block), and Werkzeug gives the view an empty body, as before.
"""
from __future__ import annotations

import io
from collections.abc import Callable

from flask import Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_content_length

#: Size of each read from a chunked body while counting it.
READ_SIZE = 64 * 1024


def read_at_most(stream, size: int) -> bytes:
    """Read from ``stream`` until ``size`` bytes or its end, whichever comes first; never more."""
    out = bytearray()
    while len(out) < size:
        data = stream.read(min(READ_SIZE, size - len(out)))
        if not data:
            break
        out += data
    return bytes(out)


class BodyLimit:
    """WSGI middleware: give a terminated body of unknown length a ``Content-Length``, reading no
    more than ``limit() + 1`` bytes of it, so the limit applies to it like to any other body."""

    def __init__(self, app: Callable, limit: Callable[[], int | None]) -> None:
        self.app, self.limit = app, limit

    def __call__(self, environ, start_response):
        limit = self.limit()
        if limit is not None and environ.get("wsgi.input_terminated") and get_content_length(environ) is None:
            body = read_at_most(environ["wsgi.input"], limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)  # de-chunked by the server; now a counted body
            del environ["wsgi.input_terminated"]
        return self.app(environ, start_response)


def refuse_oversized_body() -> None:
    """A request body over ``MAX_CONTENT_LENGTH`` is refused (413) before any view runs.

    Raises RequestEntityTooLarge, which the error handlers turn into ``payload_too_large`` JSON
    under ``/api`` and the 413 page elsewhere.
    """
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()


def init_app(app: Flask) -> None:
    """Wrap ``app.wsgi_app`` in ``BodyLimit`` and make ``refuse_oversized_body`` the first hook."""
    app.wsgi_app = BodyLimit(app.wsgi_app, lambda: app.config.get("MAX_CONTENT_LENGTH"))
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_oversized_body)
