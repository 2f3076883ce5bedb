"""Rules of the public fast path (``public.fastpath``) that its page tests let slip (found by mutation,
``scripts/mutate.py``): the request id a client sends, closing the app's response, and which pages go
into the shared store.
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from reviewflow.public.fastpath import request_id
from tests.factories import make_article

HEX_ID = re.compile(r"^[0-9a-f]{32}$")
# The fast path writes the shared store on connections of its own, which must see the test's rows.
pytestmark = pytest.mark.real_commits


@pytest.fixture
def live(db, cast):
    return make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])


def test_a_request_id_of_letters_digits_and_hyphens_is_kept_anything_else_replaced():
    assert request_id("req-42-abc") == "req-42-abc"
    assert request_id("a" * 80) == "a" * 64  # cut to the audit column's width
    for given in ("", "two words", "semi;colon", "-", "é-accent"):
        assert HEX_ID.match(request_id(given)), given


@pytest.mark.parametrize("answer", ["rendered", "from memory"])
def test_the_audit_trail_s_request_id_is_checked_on_both_paths(client, live, answer):
    if answer == "from memory":
        client.get(f"/articles/{live.slug}")
    kept = client.get(f"/articles/{live.slug}", headers={"X-Request-ID": "cdn-7f3a-01"})
    assert kept.headers["X-Request-ID"] == "cdn-7f3a-01"
    replaced = client.get(f"/articles/{live.slug}", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert HEX_ID.match(replaced.headers["X-Request-ID"])


def test_the_app_s_response_is_closed_when_its_page_is_kept(app, client, live):
    """WSGI: whoever consumes a response's body calls its ``close()``; the fast path reads the body of a page
    it keeps, so it must close it (Flask and extensions run work there, ``call_on_close``)."""
    closed = []

    @app.after_request
    def note_close(response):
        response.call_on_close(lambda: closed.append(True))
        return response

    assert client.get(f"/articles/{live.slug}").status_code == 200
    assert closed == [True]


def test_pages_with_a_query_string_stay_in_memory_only(client, db, live):
    assert client.get("/articles?topic=Dermatology").status_code == 200
    assert client.get("/articles").status_code == 200
    keys = list(db.session.execute(text("SELECT key FROM finished_pages")).scalars())
    assert any(k.endswith("/articles") for k in keys)
    assert not [k for k in keys if "?" in k]


def _render_count(app):
    from flask import request_started

    seen = []
    request_started.connect(lambda sender, **extra: seen.append(1), app, weak=False)
    return seen


def test_only_get_and_head_are_answered_from_memory(app, client, live):
    assert client.get(f"/articles/{live.slug}").status_code == 200  # kept
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert client.open(f"/articles/{live.slug}", method=method).status_code == 405, method
    assert client.head(f"/articles/{live.slug}").status_code == 200


def test_a_reader_with_an_unrelated_cookie_is_served_from_memory_a_signed_in_one_is_not(app, client, live):
    client.get(f"/articles/{live.slug}")
    renders = _render_count(app)
    client.set_cookie("theme", "dark")
    assert client.get(f"/articles/{live.slug}").status_code == 200
    assert renders == []
    client.set_cookie(app.config.get("SESSION_COOKIE_NAME", "session"), "anything")
    client.get(f"/articles/{live.slug}")
    assert renders == [1]


def test_an_unreadable_if_modified_since_gets_the_page_not_a_304(client, live):
    first = client.get(f"/articles/{live.slug}")
    again = client.get(f"/articles/{live.slug}", headers={"If-Modified-Since": "last Tuesday"})
    assert again.status_code == 200 and again.get_data() == first.get_data()
    fresh = client.get(f"/articles/{live.slug}", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert fresh.status_code == 304


def test_a_query_string_on_an_article_s_address_is_never_kept(app, client, live):
    from reviewflow.public.pagecache import public_cache

    assert client.get(f"/articles/{live.slug}?utm_source=newsletter").status_code == 200
    assert not [k for k in public_cache(app).data if isinstance(k, str) and "utm_source" in k]
