"""The publisher's public site: its address and name, schema.org as PRODUCT.md says, search engines
(robots.txt, noindex), `/`, and caches that keep a public page at most two seconds unrevalidated."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC
from pathlib import Path
from urllib.robotparser import RobotFileParser

import pytest
from sqlalchemy import select

from reviewflow.articles.models import Article
from reviewflow.extensions import utcnow
from reviewflow.notifications.digests import GATHER, send_digests
from reviewflow.notifications.models import OutboxEmail
from reviewflow.preferences.services import set_email_mode
from reviewflow.public import pagecache
from reviewflow.publishing import services as publishing
from tests.factories import CHECKLIST, PASSWORD, make_app
from tests.publishing.test_public import _update_to_v2, iso, json_ld, text_of

PUBLIC = "https://health.example.org"
SITE = "Harbor Health Library"
ROOT = Path(__file__).resolve().parents[2]
ATOM = {"a": "http://www.w3.org/2005/Atom"}
SITEMAP = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}


@pytest.fixture
def site(app):
    """The app configured as a publisher's site: a public address and a name."""
    app.config.update(PUBLIC_URL=PUBLIC, SITE_NAME=SITE)
    return app


def public_urls(article, cast) -> list[str]:
    """Every public page of the ``published`` fixture's article and the site."""
    return ["/articles", f"/articles/{article.slug}", f"/articles/{article.slug}/v1",
            f"/reviewers/{cast['rev'].id}", f"/writers/{cast['writer'].id}", "/feed.atom", "/sitemap.xml",
            "/robots.txt"]


def max_age(cache_control: str) -> int:
    match = re.search(r"(?:^|,)\s*max-age=(\d+)", cache_control)
    assert match, cache_control
    return int(match[1])


def byline(html: str) -> str:
    """The article's "Posted on … · Updated on …" line."""
    return text_of(re.search(r'<p class="byline">Posted on.*?</p>', html, re.S)[0])


def rereview(api, cast, db, article):
    """A re-review of the live text that approves it unchanged: a new version, the same text."""
    assert api(cast["editor"], "POST", f"/articles/{article.id}/assignments",
               json={"reviewer_id": cast["rev"].id}).status_code == 201
    assert api(cast["rev"], "POST", f"/articles/{article.id}/decisions",
               json={"revision": article.current_revision, "decision": "approve", "password": PASSWORD,
                     "checklist": CHECKLIST}).status_code == 201
    db.session.expire_all()
    return publishing.live_version_of(db.session.get(Article, article.id))


# The public address ------------------------------------------------------------------------------

def test_a_forged_host_header_reaches_no_absolute_address(site, client, cast, published):
    article, _ = published
    for url in public_urls(article, cast):
        r = client.get(url, headers={"Host": "evil.example"})
        assert r.status_code == 200, url
        assert "evil.example" not in r.get_data(as_text=True), url
    html = client.get(f"/articles/{article.slug}", headers={"Host": "evil.example"}).get_data(as_text=True)
    assert f'<link rel="canonical" href="{PUBLIC}/articles/{article.slug}">' in html
    data = json_ld(html)
    assert data["url"] == f"{PUBLIC}/articles/{article.slug}"
    assert data["author"]["url"] == f"{PUBLIC}/writers/{cast['writer'].id}"
    assert data["reviewedBy"][0]["url"] == f"{PUBLIC}/reviewers/{cast['rev'].id}"
    assert data["publisher"] == {"@type": "Organization", "name": SITE, "url": PUBLIC}
    sitemap = ET.fromstring(client.get("/sitemap.xml", headers={"Host": "evil.example"}).data)
    locs = [u.find("s:loc", SITEMAP).text for u in sitemap.findall("s:url", SITEMAP)]
    assert locs and all(loc.startswith(PUBLIC + "/") for loc in locs)
    assert f"{PUBLIC}/articles/{article.slug}" in locs
    feed = ET.fromstring(client.get("/feed.atom", headers={"Host": "evil.example"}).data)
    addresses = [e.text for e in feed.iter("{http://www.w3.org/2005/Atom}id")]
    addresses += [e.get("href") for e in feed.iter("{http://www.w3.org/2005/Atom}link")]
    addresses += [e.text for e in feed.iter("{http://www.w3.org/2005/Atom}uri")]
    assert addresses and all(a.startswith(PUBLIC) for a in addresses), addresses
    robots = client.get("/robots.txt", headers={"Host": "evil.example"}).get_data(as_text=True)
    assert f"Sitemap: {PUBLIC}/sitemap.xml" in robots.splitlines()


def test_without_a_public_address_pages_use_the_request_s_own(client, cast, published):
    """Development: no PUBLIC_URL, so the address the browser used."""
    article, _ = published
    html = client.get(f"/articles/{article.slug}", base_url="http://127.0.0.1:5000").get_data(as_text=True)
    assert f'<link rel="canonical" href="http://127.0.0.1:5000/articles/{article.slug}">' in html
    assert "Sitemap: http://127.0.0.1:5000/sitemap.xml" in client.get(
        "/robots.txt", base_url="http://127.0.0.1:5000").get_data(as_text=True)


def test_a_public_address_with_a_path_prefixes_every_link(app, client, cast, published):
    article, _ = published
    app.config["PUBLIC_URL"] = "https://example.org/health"
    html = client.get(f"/articles/{article.slug}").get_data(as_text=True)
    assert f'<link rel="canonical" href="https://example.org/health/articles/{article.slug}">' in html
    assert json_ld(html)["publisher"]["url"] == "https://example.org/health"


def test_mail_links_are_on_the_public_site(site, client, cast, db, published):
    article, _ = published
    assert send_digests(now=utcnow() + GATHER) >= 1  # the writer's digest, queued by cron outside a request
    body = db.session.scalars(select(OutboxEmail.body).where(OutboxEmail.to_address == cast["writer"].email)
                              .order_by(OutboxEmail.id.desc())).first()
    assert f"{PUBLIC}/articles/{article.slug}" in body  # published outside a request: PUBLIC_URL all the same
    rereview_mail = client.application.test_request_context("/", headers={"Host": "evil.example"})
    with rereview_mail:
        from reviewflow.notifications.services import notify
        set_email_mode(cast["writer"], "immediately")
        notify(cast["writer"], "A note", "/work/articles/1")
        db.session.commit()
    last = db.session.scalars(select(OutboxEmail.body).order_by(OutboxEmail.id.desc())).first()
    assert f"Open it in reviewflow: {PUBLIC}/work/articles/1" in last and "evil.example" not in last


def test_the_settings_come_from_the_environment():
    env = {**os.environ, "REVIEWFLOW_PUBLIC_URL": "https://health.example.org/", "REVIEWFLOW_SITE_NAME": SITE}
    out = subprocess.run([sys.executable, "-c", "import config; print(config.Config.PUBLIC_URL); "
                          "print(config.Config.SITE_NAME)"], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["https://health.example.org", SITE]  # the trailing slash dropped


@pytest.mark.parametrize("bad", ["health.example.org", "ftp://health.example.org", "https://", "https://a b.org",
                                 "https://health.example.org/?x=1"])
def test_a_malformed_public_address_refuses_to_start(bad):
    with pytest.raises(RuntimeError, match="REVIEWFLOW_PUBLIC_URL"):
        make_app(PUBLIC_URL=bad)


# The publisher's name, no staff links ----------------------------------------------------------------

def test_the_public_site_shows_the_publisher_and_no_staff_log_in(site, client, cast, db, published):
    article, other = published
    publishing.unpublish_article(cast["editor"], other, "Withdrawn for new guidance.")
    db.session.commit()
    for url in [*public_urls(article, cast)[:5], f"/articles/{other.slug}"]:
        r = client.get(url)
        html = r.get_data(as_text=True)
        assert r.status_code == (410 if url == f"/articles/{other.slug}" else 200), url
        assert re.search(rf"<title>[^<]* · {SITE}</title>", html), url
        assert f'<a class="brand" href="/articles">{SITE}</a>' in html, url
        assert SITE in text_of(html.split('<footer')[1]), url
        assert "reviewflow" not in text_of(html), url
        assert "/login" not in html and "Log in" not in html, url
    feed = ET.fromstring(client.get("/feed.atom").data)
    assert feed.find("a:author/a:name", ATOM).text == SITE and feed.find("a:title", ATOM).text.startswith(SITE)


def test_staff_pages_keep_the_tool_s_name(site, client, login, cast, published):
    article, _ = published
    assert ">reviewflow</a>" in client.get("/login").get_data(as_text=True)
    login(cast["editor"])
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert ">reviewflow</a>" in dashboard and "Log out" in dashboard
    page = client.get(f"/articles/{article.slug}").get_data(as_text=True)
    assert f">{SITE}</a>" in page and "Dashboard" in page  # staff reading the public site keep their menu


def test_slash_leads_to_the_articles_or_the_dashboard(client, login, cast):
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/articles")  # a GET: 303 is after a POST
    assert "public" not in r.headers.get("Cache-Control", "")  # it depends on who asks
    login(cast["editor"])
    assert client.get("/").headers["Location"].endswith("/dashboard")


# Schema.org -----------------------------------------------------------------------------------------

def test_json_ld_follows_schema_org(site, client, cast, published):
    article, _ = published
    data = json_ld(client.get(f"/articles/{article.slug}").get_data(as_text=True))
    version = publishing.live_version_of(article)
    assert data["@type"] == "MedicalWebPage"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", data["lastReviewed"])
    assert data["lastReviewed"] == version.last_reviewed_at.astimezone(UTC).date().isoformat()
    assert data["publisher"] == {"@type": "Organization", "name": SITE, "url": PUBLIC}
    [person] = data["reviewedBy"]
    assert person["@type"] == "Person" and "medicalSpecialty" not in person
    assert person["jobTitle"] == "Specialist in Dermatology"
    assert [c["name"] for c in person["hasCredential"]] == ["M.D.", "Ph.D."]
    assert data["author"]["@type"] == "Person" and data["datePublished"] == data["dateModified"]
    main = data["mainEntity"]
    assert main["@type"] == "Article" and main["headline"] == "Eczema in winter"
    assert main["author"] == data["author"] and main["publisher"] == data["publisher"]
    assert main["datePublished"] == data["datePublished"] and main["dateModified"] == data["dateModified"]
    assert "medicalSpecialty" not in json.dumps(data)


def test_a_rereview_moves_only_the_review_date(client, api, cast, db, published):
    article, _ = published
    first = publishing.live_version_of(article)
    second = rereview(api, cast, db, article)
    assert second.kind == "rereview" and second.published_at > first.published_at
    html = client.get(f"/articles/{article.slug}").get_data(as_text=True)
    data = json_ld(html)
    assert data["lastReviewed"] == second.last_reviewed_at.astimezone(UTC).date().isoformat()
    assert data["dateModified"] == data["datePublished"] == iso(first.published_at)
    assert "Updated on" not in byline(html)
    sitemap = ET.fromstring(client.get("/sitemap.xml").data)
    lastmods = {u.find("s:loc", SITEMAP).text: u.find("s:lastmod", SITEMAP).text
                for u in sitemap.findall("s:url", SITEMAP)}
    assert lastmods[f"http://localhost/articles/{article.slug}"] == iso(first.published_at)
    row = text_of(client.get("/articles").get_data(as_text=True)).split(article.title)[1]
    assert "Published on" in row.split("Taking ibuprofen")[0] and "Updated on" not in row.split("Taking")[0]

    _update_to_v2(db, cast, article)  # now the text changes: everything moves
    third = publishing.live_version_of(db.session.get(Article, article.id))
    html = client.get(f"/articles/{article.slug}").get_data(as_text=True)
    assert json_ld(html)["dateModified"] == iso(third.published_at)  # (the same second as v1 here)
    assert "Updated on" in byline(html)
    sitemap = ET.fromstring(client.get("/sitemap.xml").data)
    assert iso(third.published_at) in [u.find("s:lastmod", SITEMAP).text for u in sitemap.findall("s:url", SITEMAP)]


def test_a_version_page_is_canonically_the_live_article(site, client, cast, db, published):
    article, _ = published
    _update_to_v2(db, cast, article)
    html = client.get(f"/articles/{article.slug}/v1").get_data(as_text=True)
    assert re.findall(r'<link rel="canonical" href="([^"]+)">', html) == [f"{PUBLIC}/articles/{article.slug}"]
    assert json_ld(html)["url"] == f"{PUBLIC}/articles/{article.slug}" and json_ld(html)["version"] == "1"


# Search engines ------------------------------------------------------------------------------------

def test_robots_txt_names_the_sitemap_and_keeps_crawlers_off_staff_pages(site, client):
    r = client.get("/robots.txt")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    lines = r.get_data(as_text=True).splitlines()
    assert f"Sitemap: {PUBLIC}/sitemap.xml" in lines
    robots = RobotFileParser()
    robots.parse(lines)
    for path in ("/articles", "/articles/eczema-in-winter", "/articles/eczema-in-winter/v2", "/reviewers/3",
                 "/writers/4", "/feed.atom", "/sitemap.xml", "/"):
        assert robots.can_fetch("*", PUBLIC + path), path
    for path in ("/login", "/dashboard", "/work/articles/1", "/work/articles/new", "/reviews", "/audit",
                 "/admin/users", "/account", "/notifications", "/api/v1/me"):
        assert not robots.can_fetch("*", PUBLIC + path), path


def test_staff_pages_and_login_are_noindex_public_pages_are_not(client, login, cast, published):
    article, _ = published
    meta = '<meta name="robots" content="noindex">'
    for url in public_urls(article, cast):
        r = client.get(url)
        assert meta not in r.get_data(as_text=True) and "X-Robots-Tag" not in r.headers, url
    r = client.get("/login")
    assert meta in r.get_data(as_text=True) and r.headers["X-Robots-Tag"] == "noindex"
    login(cast["editor"])
    for url in ("/dashboard", "/work/articles", f"/work/articles/{article.id}", "/account",
                f"/work/articles/{article.id}/versions/1/certificate"):
        r = client.get(url)
        assert r.status_code == 200 and meta in r.get_data(as_text=True), url
        assert r.headers["X-Robots-Tag"] == "noindex", url
    assert client.get("/api/v1/openapi.json").headers["X-Robots-Tag"] == "noindex"


# Caches -------------------------------------------------------------------------------------------------

def test_every_public_page_is_kept_two_seconds_at_most_and_revalidates_cheaply(client, cast, published):
    article, _ = published
    for url in public_urls(article, cast):
        first = client.get(url)
        cache_control = first.headers["Cache-Control"]
        assert first.status_code == 200 and "immutable" not in cache_control, url
        assert cache_control.startswith("public") and max_age(cache_control) <= 2, url
        assert "s-maxage" not in cache_control and "stale-" not in cache_control, url
        again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and again.get_data() == b"", url
        assert again.headers["Cache-Control"] == cache_control, url


def test_the_fast_path_sends_the_same_headers(client, cast, published):
    article, _ = published
    for url in (f"/articles/{article.slug}", f"/articles/{article.slug}/v1"):
        first, second = client.get(url), client.get(url)  # the second from finished responses
        for header in ("Cache-Control", "ETag", "Last-Modified"):
            assert second.headers[header] == first.headers[header], (url, header)
        assert max_age(second.headers["Cache-Control"]) <= 2
        assert client.get(url, headers={"If-None-Match": first.headers["ETag"]}).headers["Cache-Control"] == \
            first.headers["Cache-Control"]


def test_a_withdrawn_version_page_is_not_kept(client, cast, db, published):
    article, _ = published
    etag = client.get(f"/articles/{article.slug}/v1").headers["ETag"]
    publishing.unpublish_article(cast["editor"], article, "Withdrawn for new guidance.")
    db.session.commit()
    r = client.get(f"/articles/{article.slug}/v1", headers={"If-None-Match": etag})
    assert r.status_code == 410 and max_age(r.headers["Cache-Control"]) <= 2


def test_the_etag_follows_what_the_page_shows(app, client, cast, db, published):
    """Not just the version: the site's name is on the page too."""
    article, _ = published
    before = client.get(f"/articles/{article.slug}").headers["ETag"]
    app.config["SITE_NAME"] = "Another name"
    pagecache.public_cache(app).clear()
    after = client.get(f"/articles/{article.slug}", headers={"If-None-Match": before})
    assert after.status_code == 200 and after.headers["ETag"] != before
