"""The fast path: anonymous readers' article pages answered from finished responses, with a bounded lag."""
from __future__ import annotations

import pytest
from flask import request_started
from sqlalchemy import event, update

from reviewflow.articles.models import Article
from reviewflow.public.pagecache import CACHE_KEY, TTLCache
from tests.factories import Clock
from tests.publishing.test_public import _update_to_v2


@pytest.fixture
def clock(app):
    """The process's public cache on a clock the test moves."""
    tick = Clock()
    app.extensions[CACHE_KEY] = TTLCache(app.config["PUBLIC_CACHE_SECONDS"], clock=tick)
    return tick


@pytest.fixture
def flask_work(app, db):
    """Counts of what Flask did: requests dispatched and SQL statements run."""
    seen = {"requests": 0, "sql": 0}

    def started(sender, **extra):
        seen["requests"] += 1

    def statement(*args):
        seen["sql"] += 1

    request_started.connect(started, app)
    event.listen(db.engine, "before_cursor_execute", statement)
    yield seen
    request_started.disconnect(started, app)
    event.remove(db.engine, "before_cursor_execute", statement)


def test_the_second_anonymous_read_is_answered_without_flask_or_the_database(client, clock, flask_work, published):
    article, _ = published
    first = client.get(f"/articles/{article.slug}")
    assert first.status_code == 200 and flask_work["requests"] == 1
    before = dict(flask_work)
    second = client.get(f"/articles/{article.slug}")
    assert flask_work == before, "the cached answer went through Flask or the database"
    assert second.status_code == 200 and second.get_data() == first.get_data()
    for header in ("ETag", "Last-Modified", "Cache-Control", "Content-Security-Policy", "X-Frame-Options",
                   "Content-Type"):
        assert second.headers[header] == first.headers[header], header
    assert int(second.headers["Content-Length"]) == len(first.get_data())
    assert second.headers["X-Request-ID"] and second.headers["X-Request-ID"] != first.headers["X-Request-ID"]
    assert "Set-Cookie" not in second.headers


def test_conditional_and_head_requests_from_the_cache(client, clock, flask_work, published):
    article, _ = published
    first = client.get(f"/articles/{article.slug}")
    before = dict(flask_work)
    etag = client.get(f"/articles/{article.slug}", headers={"If-None-Match": first.headers["ETag"]})
    assert etag.status_code == 304 and etag.get_data() == b"" and etag.headers["ETag"] == first.headers["ETag"]
    listed = client.get(f"/articles/{article.slug}", headers={"If-None-Match": f'"x", {first.headers["ETag"]}'})
    assert listed.status_code == 304
    since = client.get(f"/articles/{article.slug}", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 304
    other = client.get(f"/articles/{article.slug}", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.get_data() == first.get_data()
    head = client.head(f"/articles/{article.slug}")
    assert head.status_code == 200 and head.get_data() == b""
    assert head.headers["Content-Length"] == str(len(first.get_data()))
    assert flask_work == before


def test_personal_and_unusual_requests_go_to_flask(client, login, cast, clock, flask_work, published):
    article, _ = published
    client.get(f"/articles/{article.slug}")  # cached for anonymous readers
    n = flask_work["requests"]
    assert client.get(f"/articles/{article.slug}?utm=x").status_code == 200
    assert flask_work["requests"] == n + 1
    login(cast["editor"])
    staff = client.get(f"/articles/{article.slug}")
    assert flask_work["requests"] == n + 3  # the log-in, then the page
    assert staff.headers["Cache-Control"] == "private, no-cache" and "Log out" in staff.get_data(as_text=True)


def test_not_found_is_never_kept(client, clock, flask_work):
    assert client.get("/articles/no-such-article").status_code == 404
    assert client.get("/articles/no-such-article").status_code == 404
    assert flask_work["requests"] == 2


def test_another_process_s_unpublish_shows_once_the_entry_expires(app, client, clock, db, published):
    """No in-process invalidation (as when another worker unpublishes): the TTL alone bounds the lag."""
    article, _ = published
    assert client.get(f"/articles/{article.slug}").status_code == 200
    db.session.execute(update(Article).where(Article.id == article.id).values(live_version=None))
    db.session.commit()
    clock.now += app.config["PUBLIC_CACHE_SECONDS"] - 0.01
    assert client.get(f"/articles/{article.slug}").status_code == 200  # still within the bound
    clock.now += 0.02
    gone = client.get(f"/articles/{article.slug}")
    assert gone.status_code == 410
    assert client.get(f"/articles/{article.slug}").status_code == 410  # the gone page is kept too


def test_a_publish_in_this_process_shows_at_once(client, clock, db, cast, published):
    article, _ = published
    assert "Humidifiers" not in client.get(f"/articles/{article.slug}").get_data(as_text=True)
    _update_to_v2(db, cast, article)
    assert "Humidifiers" in client.get(f"/articles/{article.slug}").get_data(as_text=True)

