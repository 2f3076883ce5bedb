"""A real HTTP receiver on a loopback port that checks each request's signature as a CMS would."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from reviewflow.webhooks import services as webhooks


def verify_signature(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """What a receiver does: split ``t=…,v1=…``, refuse a timestamp more than ``tolerance`` seconds off,
    recompute HMAC-SHA256 of ``<t>.<body>`` and compare in constant time."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    if "t" not in parts or "v1" not in parts or abs(time.time() - int(parts["t"])) > tolerance:
        return False
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    signature_ok: bool

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """The receiver's state: the secret it checks with, the statuses it answers in turn (then 200), and
    every request it got."""

    port: int = 0
    #: The secret of each endpoint, by the path of its address.
    secrets: dict[str, str] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.url_for("/hooks/reviewflow")

    def url_for(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    @property
    def delivered(self) -> list[Received]:
        """The requests it accepted (answered 2xx)."""
        return [r for r in self.requests if r.headers.get("X-Answered") == "200"]


@pytest.fixture
def receiver():
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            secret = state.secrets.get(self.path, "")
            ok = verify_signature(secret, self.headers.get("X-Reviewflow-Signature", ""), body)
            with lock:
                status = state.statuses.pop(0) if state.statuses else (200 if ok else 400)
                headers = dict(self.headers.items())
                headers["X-Answered"] = str(status)
                state.requests.append(Received(self.path, headers, body, ok))
            answer = (b'{"ok": true}' if status < 300 else b"Internal error: the CMS database is down " + b"x" * 5000)
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if status < 300 else "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def hook(db, cast, receiver):
    """``hook(events, url=None)`` registers an endpoint for the receiver (its secret handed to it)."""

    def _make(events=("article.published", "article.rereviewed", "article.unpublished"), url=None):
        endpoint, secret = webhooks.create_endpoint(cast["admin"], url or receiver.url, "Test CMS", list(events))
        db.session.commit()
        receiver.secrets[urlsplit(endpoint.url).path] = secret
        return endpoint

    return _make
