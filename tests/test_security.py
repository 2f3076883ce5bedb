"""Security headers on every response, no caching of staff pages, and errors that never leak internals."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from reviewflow.articles.models import Article
from tests.factories import make_article, make_user

SECRET_DETAIL = "internal-detail-4f1c: connection string postgresql://admin:hunter2@db"


@pytest.fixture
def boom(app):
    """Routes that fail with an unexpected exception, on a page and under the API."""
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def fail():
        raise RuntimeError(SECRET_DETAIL)

    app.add_url_rule("/test-only/boom", "test_boom", fail)
    app.add_url_rule("/api/v1/test-only/boom", "test_api_boom", fail, methods=["GET", "POST"])
    return app


def _directive(csp: str, name: str) -> str:
    """The sources of one directive of a Content-Security-Policy."""
    for part in csp.split(";"):
        words = part.strip().split(None, 1)
        if words and words[0] == name:
            return words[1] if len(words) > 1 else ""
    return ""


def assert_security_headers(response) -> None:
    h = response.headers
    csp = h.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[-1].split(";")[0]
    assert _directive(csp, "img-src") in ("'self' data:", "'self' data: https://cdn.example.org")
    assert h.get("X-Frame-Options") == "DENY"
    assert h.get("X-Content-Type-Options") == "nosniff"
    assert h.get("Referrer-Policy")


@pytest.mark.parametrize("path", ["/login", "/articles", "/api/v1/openapi.json", "/no-such-page",
                                  "/api/v1/no-such-endpoint", "/dashboard"])
def test_security_headers_on_every_kind_of_response(client, db, path):
    assert_security_headers(client.get(path))


def test_security_headers_on_public_article(client, cast):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    response = client.get(f"/articles/{article.slug}")
    assert response.status_code == 200
    assert_security_headers(response)


@pytest.mark.parametrize("path", ["/dashboard", "/account", "/work/articles", "/audit", "/admin/users"])
def test_staff_pages_are_not_stored(client, login, db, path):
    user = make_user("writer", "editor", "admin")
    login(user)
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    assert "no-store" in response.headers.get("Cache-Control", "")
    assert_security_headers(response)


def test_staff_article_page_is_not_stored(client, login, cast):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    login(cast["writer"])
    response = client.get(f"/work/articles/{article.id}")
    assert response.status_code == 200
    assert "no-store" in response.headers.get("Cache-Control", "")


def test_login_page_and_api_answers_are_not_stored(client, api, cast):
    assert "no-store" in client.get("/login").headers.get("Cache-Control", "")
    assert "no-store" in api(cast["writer"], "GET", "/me").headers.get("Cache-Control", "")


def test_server_error_page_shows_no_traceback(boom):
    response = boom.test_client().get("/test-only/boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    for leak in ("Traceback", "RuntimeError", SECRET_DETAIL, "hunter2", 'File "', "site-packages"):
        assert leak not in html, leak
    assert "Something went wrong" in html
    assert_security_headers(response)


def test_server_error_json_shows_no_traceback(boom):
    response = boom.test_client().post("/api/v1/test-only/boom", json={})
    assert response.status_code == 500
    assert response.get_json() == {"error": {"code": "internal_error", "message": response.get_json()["error"]
                                             ["message"]}}
    body = response.get_data(as_text=True)
    for leak in ("Traceback", "RuntimeError", SECRET_DETAIL, "hunter2"):
        assert leak not in body, leak


def test_server_error_is_logged_for_the_operators(boom, caplog):
    boom.test_client().get("/test-only/boom")
    assert any(SECRET_DETAIL in (r.exc_text or "") or SECRET_DETAIL in r.getMessage() or
               (r.exc_info and SECRET_DETAIL in str(r.exc_info[1])) for r in caplog.records)


@pytest.mark.parametrize("path", ["/work/articles/999999", "/work/articles/abc", "/articles/no-such-article",
                                  "/work/articles/99999999999999999999"])
def test_not_found_pages_show_no_internals(client, login, db, path):
    login(make_user("editor"))
    response = client.get(path)
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Traceback" not in html and "sqlalchemy" not in html.lower()


@pytest.mark.parametrize("suffix", ["", "/edit", "/history", "/review", "/assign", "/publish", "/audit",
                                    "/sign?decision=approve", "/versions/1/certificate"])
def test_an_article_one_cannot_see_answers_like_one_that_does_not_exist(client, login, api, cast, suffix):
    """Refusals come in order: to someone who cannot see the article, it does not exist (404), so
    its title, its state and even its existence stay hidden, on pages and in the API."""
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"],
                           title="A confidential draft title")
    missing = article.id + 1000
    login(cast["writer2"])
    client.get("/dashboard")  # shows the welcome message, so neither answer below carries it
    hidden = client.get(f"/work/articles/{article.id}{suffix}")
    absent = client.get(f"/work/articles/{missing}{suffix}")
    assert hidden.status_code == absent.status_code == 404
    assert hidden.get_data(as_text=True) == absent.get_data(as_text=True)
    for who in ("writer2", "rev2"):
        seen = api(cast[who], "GET", f"/articles/{article.id}")
        none = api(cast[who], "GET", f"/articles/{missing}")
        assert seen.status_code == none.status_code == 404
        assert seen.get_json() == none.get_json() and seen.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("field, value", [("title", "Eczema\x00 in winter"), ("title", "Eczema\nin winter"),
                                          ("title", "Eczema \x1b[2J"), ("note", "Fixed\x07 timing"),
                                          ("note", "Fixed\ttiming")])
def test_control_characters_in_one_line_fields_are_400_on_pages(client, login, cast, db, field, value):
    article = make_article(cast["writer"])
    login(cast["writer"])
    form = {"title": "Eczema in winter", "body": "Text.\n", "note": "", "base_revision": "1", field: value}
    response = client.post(f"/work/articles/{article.id}/edit", data=form)
    assert response.status_code == 400
    db.session.expire_all()
    assert article.current_revision == 1
    if field == "title":
        created = client.post("/work/articles/new", data={"title": value, "body": "Text.\n"})
        assert created.status_code == 400
        assert db.session.scalar(select(func.count()).select_from(Article)) == 1


def test_control_characters_in_an_unpublish_reason_are_400(client, login, cast, db):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    login(cast["editor"])
    response = client.post(f"/work/articles/{article.id}/unpublish", data={"reason": "Outdated\x0b advice."})
    assert response.status_code == 400
    db.session.expire_all()
    assert article.state == "published"


def test_app_does_not_run_in_debug_mode(app):
    assert not app.debug


# Images: no remote image loads in a draft (a writer would learn reviewers' addresses) ----------------

REMOTE_IMAGE = "![A rash on the forearm](https://tracker.example.net/pixel.png?who=reviewer)"


def test_a_drafts_remote_image_is_a_link_on_the_review_page(client, login, cast, db):
    from reviewflow.articles import services as articles

    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    articles.save_revision(cast["writer"], article, article.title, "Look at this.\n\n" + REMOTE_IMAGE + "\n",
                           article.current_revision)
    db.session.commit()
    login(cast["rev"])
    for path in (f"/work/articles/{article.id}/review", f"/work/articles/{article.id}"):
        response = client.get(path)
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert not re.search(r"<img[^>]*tracker\.example\.net", html), path
        assert 'class="remote-image"' in html and "Image: A rash on the forearm" in html, path
        assert _directive(response.headers["Content-Security-Policy"], "img-src") == "'self' data:"


def test_an_image_on_this_site_stays_an_image():
    from reviewflow.articles.rendering import render_markdown

    html = render_markdown("![Chart](/static/favicon.svg) ![Far](//tracker.example.net/a.png)")
    assert '<img src="/static/favicon.svg" alt="Chart">' in html
    assert "<img" not in html.replace('<img src="/static/favicon.svg" alt="Chart">', "")


def test_a_public_page_allows_only_the_admins_https_logo(client, cast, db):
    from reviewflow.public.pagecache import public_cache
    from reviewflow.site import services as site

    site.save_settings(cast["admin"], {"logo_url": "https://cdn.example.org/logo.svg"})
    db.session.commit()
    public_cache().clear()
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    for path in ("/articles", f"/articles/{article.slug}", "/reviewers"):
        csp = client.get(path).headers["Content-Security-Policy"]
        assert _directive(csp, "img-src") == "'self' data: https://cdn.example.org", path
    assert _directive(client.get("/login").headers["Content-Security-Policy"], "img-src") == "'self' data:"


# Public pages of people ------------------------------------------------------------------------------

def test_a_writer_page_exists_only_for_writers_who_published(client, cast, db):
    never = make_user("writer", name="Quiet Writer")
    make_article(never, "in_review", reviewer=cast["rev"], editor=cast["editor"], title="Unpublished work")
    assert client.get(f"/writers/{never.id}").status_code == 404
    published = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    page = client.get(f"/writers/{cast['writer'].id}")
    assert page.status_code == 200 and published.title in page.get_data(as_text=True)
