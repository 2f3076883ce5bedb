"""The health publisher's public pages: the reviewer directory, related articles with excerpts, Open
Graph and Twitter card tags, the BreadcrumbList, the favicon and fingerprinted static files, and 303
after every POST."""
from __future__ import annotations

import hashlib
import json
import re
from html import unescape
from pathlib import Path

from reviewflow.auth import services as accounts
from reviewflow.extensions import db as _db
from tests.factories import make_article, make_user

ROOT = Path(__file__).resolve().parents[2]
LD = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.S)


def meta(html: str) -> dict[str, str]:
    """Open Graph (property=) and Twitter (name=) tags of a page."""
    return {m[1]: unescape(m[2]) for m in re.finditer(r'<meta (?:property|name)="([^"]+)" content="([^"]*)">', html)}


# The reviewer directory -------------------------------------------------------------------------

def test_directory_lists_verified_licensed_reviewers_by_specialty(client, cast, db, published):
    make_user("reviewer", name="Nia Unverified", specialty="Cardiology", verified=False)
    r = client.get("/reviewers")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "public, max-age=1, must-revalidate"
    html = r.get_data(as_text=True)
    assert "X-Robots-Tag" not in r.headers
    for person in ("rev", "rev2"):
        assert f'href="/reviewers/{cast[person].id}"' in html
    assert "Dana Okafor, M.D., Ph.D." in html and "Credentials verified on" in html
    assert "Nia Unverified" not in html and "Old Licence" not in html  # unverified; licence expired
    assert html.index("<h2 id=\"specialty-1\">Dermatology</h2>") < html.index("Pharmacology</h2>")
    assert "Reviewed 1 published article" in html


def test_a_deactivated_reviewer_leaves_the_directory(client, cast, db, published):
    accounts.update_user(cast["admin"], cast["rev2"], active=False)
    db.session.commit()
    assert f'href="/reviewers/{cast["rev2"].id}"' not in client.get("/reviewers").get_data(as_text=True)


def test_reviewer_pages_lead_back_to_the_directory(client, cast, published):
    html = client.get(f"/reviewers/{cast['rev'].id}").get_data(as_text=True)
    assert '<a href="/reviewers">Medical reviewers</a>' in html


def test_empty_directory_says_so(client, db):
    assert "No medical reviewers listed yet" in client.get("/reviewers").get_data(as_text=True)


# Related articles ------------------------------------------------------------------------------

def test_related_articles_share_the_topic_and_show_excerpts_without_headings(client, cast, db, published):
    article, other = published  # other is on Pharmacology
    body = "# Bathing basics\n\nShort lukewarm baths help " + "dry skin " * 40 + "\n\n## Afterwards\n\nPat dry.\n"
    near = make_article(cast["writer2"], "published", reviewer=cast["rev"], editor=cast["editor"],
                        title="Bathing a baby with eczema", body=body, topic="Dermatology")
    html = client.get(f"/articles/{article.slug}").get_data(as_text=True)
    related = re.search(r'<section class="related-articles".*?</section>', html, re.S)[0]
    assert f'href="/articles/{near.slug}"' in related and f'href="/articles/{other.slug}"' not in related
    excerpt = re.search(r'<p class="excerpt small">(.*?)</p>', related, re.S)[1]
    assert excerpt.startswith("Short lukewarm baths help") and "Bathing basics" not in excerpt
    assert excerpt.endswith("…") and ".." not in excerpt and len(excerpt) <= 160
    assert "More on Dermatology" in related and "Medically reviewed by Dana Okafor" in related
    # The version's own address is a copy of what was: no lists beside it.
    assert "related-articles" not in client.get(f"/articles/{article.slug}/v1").get_data(as_text=True)


# Open Graph, Twitter cards and the BreadcrumbList -------------------------------------------------

def test_article_head_has_open_graph_and_twitter_tags(app, client, cast, published):
    app.config.update(PUBLIC_URL="https://health.example.org", SITE_NAME="Harbor Health Library")
    article, _ = published
    html = client.get(f"/articles/{article.slug}", headers={"Host": "evil.example"}).get_data(as_text=True)
    tags = meta(html)
    url = f"https://health.example.org/articles/{article.slug}"
    assert tags["og:type"] == "article" and tags["og:url"] == url and tags["og:title"] == "Eczema in winter"
    assert tags["og:site_name"] == "Harbor Health Library" and tags["og:description"]
    assert tags["twitter:card"] == "summary" and tags["twitter:title"] == "Eczema in winter"
    assert tags["article:section"] == "Dermatology" and tags["article:published_time"].endswith("Z")
    assert "og:image" not in tags  # the article has no image
    assert "evil.example" not in html


def test_an_article_image_reaches_og_twitter_and_json_ld(client, cast, db):
    body = "Itchy skin at night.\n\n![A humidifier](/static/favicon.svg)\n\nMore text.\n"
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"], body=body)
    html = client.get(f"/articles/{article.slug}").get_data(as_text=True)
    tags = meta(html)
    assert tags["og:image"] == tags["twitter:image"] == "http://localhost/static/favicon.svg"
    assert tags["twitter:card"] == "summary_large_image"
    data = json.loads(LD.search(html)[1])
    assert data["image"] == data["mainEntity"]["image"] == "http://localhost/static/favicon.svg"


def test_json_ld_keeps_its_keys_and_adds_a_breadcrumb_list(client, cast, published):
    article, _ = published
    data = json.loads(LD.search(client.get(f"/articles/{article.slug}").get_data(as_text=True))[1])
    for key in ("@context", "@type", "url", "reviewedBy", "lastReviewed", "author", "publisher", "datePublished",
                "dateModified", "mainEntity"):  # and ``citation`` when there are sources (test_public)
        assert key in data, key
    crumbs = data["breadcrumb"]
    assert crumbs["@type"] == "BreadcrumbList"
    assert [(i["position"], i["name"], i["item"]) for i in crumbs["itemListElement"]] == [
        (1, "Articles", "http://localhost/articles"),
        (2, "Dermatology", "http://localhost/articles?topic=Dermatology"),
        (3, "Eczema in winter", f"http://localhost/articles/{article.slug}")]


# Favicon and static files ------------------------------------------------------------------------

def test_static_files_are_fingerprinted_and_cached_for_a_year(client, db):
    html = client.get("/articles").get_data(as_text=True)
    css = (ROOT / "reviewflow/static/css/app.css").read_bytes()
    digest = hashlib.sha256(css).hexdigest()[:12]
    assert f'href="/static/css/app.css?v={digest}"' in html
    favicon = re.search(r'<link rel="icon" href="(/static/favicon.svg\?v=[0-9a-f]{12})" type="image/svg\+xml">',
                        html)[1]
    r = client.get(f"/static/css/app.css?v={digest}")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get(favicon).headers["Cache-Control"] == "public, max-age=31536000, immutable"
    for stale in ("/static/css/app.css", "/static/css/app.css?v=000000000000"):
        r = client.get(stale)
        assert r.status_code == 200 and "immutable" not in r.headers.get("Cache-Control", ""), stale
        assert r.headers.get("ETag")  # revalidated, cheaply
    assert client.get("/static/nope.css?v=1").status_code == 404


def test_staff_pages_are_fingerprinted_too(client, login, cast):
    login(cast["writer"])
    assert re.search(r'/static/js/app.js\?v=[0-9a-f]{12}"', client.get("/dashboard").get_data(as_text=True))


# 303 after POST ---------------------------------------------------------------------------------

def test_every_redirect_after_a_post_is_303(client, login, cast, db):
    r = client.post("/login", data={"email": cast["writer"].email, "password": "wrong"})
    assert r.status_code != 302
    r = client.post("/work/articles/new", data={"title": "x"})  # not signed in: to the log-in page
    assert r.status_code == 303 and "/login" in r.headers["Location"]
    login(cast["writer"])
    r = client.post("/work/articles/new", data={"title": "Sun safety", "body": "Wear a hat.", "topic": "Skin"})
    assert r.status_code == 303 and "/work/articles/" in r.headers["Location"]
    assert client.post("/logout").status_code == 303
    anonymous = client.post("/work/articles/new", data={"title": "x"})
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["Location"]
    assert client.get("/dashboard").status_code == 302  # a GET keeps 302
    _db.session.rollback()
