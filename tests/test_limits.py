"""The 1 MiB body limit (PRODUCT.md: 413 ``payload_too_large``) holds for chunked bodies too.

Each over-the-limit body below is one byte longer than a body that passes, so the tests pin
the limit exactly. They go through the real HTTP stack: the test client with a stream of unknown
length (as a server hands on a de-chunked body), werkzeug's own server and gunicorn, both fed
raw ``Transfer-Encoding: chunked`` by ``http.client``.
"""
from __future__ import annotations

import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from reviewflow.articles.models import Article
from tests.factories import token_for

LIMIT = 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent


def article_json(size: int) -> bytes:
    """A valid ``POST /articles`` body of exactly ``size`` bytes. The padding sits after the opening
    brace, so a body cut short anywhere is no longer valid JSON, and 170,000 escaped characters
    (6 bytes each) fill most of it while staying under the 200,000-character body rule."""
    core = json.dumps({"title": "Exactly one mebibyte", "body": "é" * 170_000}).encode()
    assert len(core) < size
    return b"{" + b" " * (size - len(core)) + core[1:]


class UnknownLength(io.RawIOBase):
    """A body without a length, as a server passes a de-chunked one on; counts the bytes read."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self.data[self.pos:self.pos + min(len(buffer), 8192)]
        buffer[:len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


def chunked(client, path: str, data: bytes, headers=None):
    """POST ``data`` through the test client with ``Transfer-Encoding: chunked`` and no Content-Length.

    The stream goes in as ``wsgi.input`` itself: given as ``input_stream``, the test client would
    measure it and send a Content-Length."""
    stream = UnknownLength(data)
    response = client.post(path, headers={"Transfer-Encoding": "chunked", **(headers or {})},
                           environ_overrides={"wsgi.input": stream, "wsgi.input_terminated": True})
    return response, stream


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def assert_too_large(response) -> None:
    assert response.status_code == 413, response.get_data(as_text=True)[:300]
    assert response.get_json()["error"]["code"] == "payload_too_large"


# The test client ------------------------------------------------------------------------------

def test_chunked_json_over_the_limit_is_413_and_nothing_is_created(client, db, cast):
    auth = {"Authorization": f"Bearer {token_for(cast['writer'])}", "Content-Type": "application/json"}
    response, stream = chunked(client, "/api/v1/articles", article_json(LIMIT + 1), auth)
    assert_too_large(response)
    assert stream.pos == LIMIT + 1
    assert count(db, Article) == 0


def test_chunked_json_of_exactly_the_limit_is_read_whole(client, db, cast):
    auth = {"Authorization": f"Bearer {token_for(cast['writer'])}", "Content-Type": "application/json"}
    response, _ = chunked(client, "/api/v1/articles", article_json(LIMIT), auth)
    assert response.status_code == 201, response.get_data(as_text=True)[:300]
    assert response.get_json()["revision"]["body"] == "é" * 170_000


def test_an_endless_chunked_body_is_read_no_further_than_the_limit(client, db, cast):
    auth = {"Authorization": f"Bearer {token_for(cast['writer'])}"}
    response, stream = chunked(client, "/api/v1/articles", b" " * (16 * LIMIT), auth)
    assert_too_large(response)
    assert stream.pos == LIMIT + 1


def test_chunked_form_over_the_limit_gets_the_413_page(client, db, cast):
    form = b"email=" + cast["writer"].email.encode() + b"&password=x&pad=" + b"a" * LIMIT
    response, _ = chunked(client, "/login", form, {"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "too large" in response.get_data(as_text=True)


def over_the_limit(client, method: str, path: str, how: str, headers=None):
    """Send ``LIMIT + 1`` bytes that the view never reads, with a declared length or chunked."""
    if how == "declared":
        return client.open(path, method=method, data=b"x" * (LIMIT + 1), headers=headers)
    return client.open(path, method=method, headers={"Transfer-Encoding": "chunked", **(headers or {})},
                       environ_overrides={"wsgi.input": UnknownLength(b"x" * (LIMIT + 1)),
                                          "wsgi.input_terminated": True})


@pytest.mark.parametrize("how", ["declared", "chunked"])
def test_a_view_that_reads_no_body_never_runs_on_one_over_the_limit(client, db, cast, login, how):
    """Signing out reads no body (CSRF is off in tests): refusing only the read would sign out."""
    login(cast["writer"])
    response = over_the_limit(client, "POST", "/logout", how)
    assert response.status_code == 413 and response.mimetype == "text/html"
    assert client.get("/dashboard").status_code == 200


@pytest.mark.parametrize("how", ["declared", "chunked"])
def test_an_api_call_without_a_body_model_is_refused_too(client, db, cast, how):
    auth = {"Authorization": f"Bearer {token_for(cast['writer'])}"}
    assert_too_large(over_the_limit(client, "GET", "/api/v1/me", how, auth))


# Live servers fed raw chunked HTTP ----------------------------------------------------------------

def post_chunked(port: int, path: str, data: bytes, token: str) -> tuple[int, bytes]:
    """POST ``data`` over a socket in 64 KiB chunks (``Transfer-Encoding: chunked``, no Content-Length)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Authorization", f"Bearer {token}")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for start in range(0, len(data), 64 * 1024):
            piece = data[start:start + 64 * 1024]
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture
def werkzeug_port(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gunicorn_port(app):
    """reviewflow under gunicorn (the production server), on the test's database."""
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    if gunicorn is None:
        pytest.skip("gunicorn is not installed")
    port = _free_port()
    env = {**os.environ, "REVIEWFLOW_CONFIG": "test",
           "REVIEWFLOW_TEST_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"]}
    proc = subprocess.Popen([gunicorn, "--bind", f"127.0.0.1:{port}", "--workers", "1", "reviewflow:create_app()"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("gunicorn did not start: " + proc.stderr.read().decode()[-2000:])
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.real_commits  # a live server reads the data
@pytest.mark.parametrize("server", ["werkzeug_port", "gunicorn_port"])
def test_live_server_refuses_chunked_body_over_the_limit(request, db, cast, server):
    token = token_for(cast["writer"])
    port = request.getfixturevalue(server)
    status, body = post_chunked(port, "/api/v1/articles", article_json(LIMIT + 1), token)
    assert status == 413, body[:300]
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    assert count(db, Article) == 0
    status, body = post_chunked(port, "/api/v1/articles", article_json(LIMIT), token)
    assert status == 201, body[:300]
    assert count(db, Article) == 1
