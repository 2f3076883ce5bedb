"""The Atom feed and the JSON Feed: one entry per live article with a stable id, ``published`` and an
``updated`` that moves with each new version, summaries that read as sentences, addresses from the
public URL (never the Host header), and both feeds linked from the public pages' head."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from reviewflow.articles.rendering import render_markdown
from reviewflow.public.feeds import feed_summary, sentence
from reviewflow.publishing import services as publishing
from tests.factories import make_article
from tests.publishing.test_public import _update_to_v2, iso
from tests.publishing.test_public_site import rereview

A = {"a": "http://www.w3.org/2005/Atom"}
PUBLIC = "https://health.example.org"


def atom(client, **kw) -> ET.Element:
    r = client.get("/feed.atom", **kw)
    assert r.status_code == 200 and r.mimetype == "application/atom+xml"
    return ET.fromstring(r.data)


def json_feed(client, **kw) -> dict:
    r = client.get("/feed.json", **kw)
    assert r.status_code == 200 and r.mimetype == "application/feed+json"
    assert r.headers["Cache-Control"] == "public, max-age=1, must-revalidate" and r.headers["ETag"]
    assert client.get("/feed.json", headers={"If-None-Match": r.headers["ETag"]}).status_code == 304
    return json.loads(r.data)


def entries(root) -> dict[str, dict]:
    """Each Atom entry's fields by its id."""
    return {e.find("a:id", A).text: {
        "title": e.find("a:title", A).text, "published": e.find("a:published", A).text,
        "updated": e.find("a:updated", A).text, "summary": e.find("a:summary", A).text,
        "link": e.find("a:link", A).get("href")} for e in root.findall("a:entry", A)}


def test_one_atom_entry_per_article_whose_updated_moves_with_a_new_version(client, cast, db, published):
    article, other = published
    first = entries(atom(client))
    url = f"http://localhost/articles/{article.slug}"
    assert set(first) == {url, f"http://localhost/articles/{other.slug}"}
    v1 = publishing.live_version_of(article)
    assert first[url]["published"] == first[url]["updated"] == iso(v1.published_at)
    assert first[url]["link"] == url

    _update_to_v2(db, cast, article)
    second = entries(atom(client))
    assert set(second) == set(first)  # an update is the same entry, not a new article
    v2 = publishing.live_version_of(article)
    assert second[url]["published"] == iso(v1.published_at)
    assert second[url]["updated"] == iso(v2.published_at) and v2.published_at > v1.published_at
    root = atom(client)
    assert root.find("a:updated", A).text == iso(v2.published_at)
    assert next(e.find("a:id", A).text for e in root.findall("a:entry", A)) == url  # newest first


def test_a_rereview_is_a_new_version_and_moves_updated_too(client, api, cast, db, published):
    article, _ = published
    url = f"http://localhost/articles/{article.slug}"
    before = entries(atom(client))[url]
    second = rereview(api, cast, db, article)
    after = entries(atom(client))[url]
    assert after["published"] == before["published"] and after["updated"] == iso(second.published_at)


def test_summaries_end_in_one_full_stop(client, cast, db, published):
    for e in entries(atom(client)).values():
        assert ".." not in e["summary"] and e["summary"].endswith(".")
    summary = entries(atom(client))[f"http://localhost/articles/{published[0].slug}"]["summary"]
    assert summary.endswith("Medically reviewed by Dana Okafor, M.D., Ph.D.")
    assert sentence("Ph.D.") == "Ph.D." and sentence("text") == "text." and sentence("cut…") == "cut…"


def test_summaries_leave_headings_out(client, cast, db):
    body = ("# Winter skin care\n\nDry air pulls water out of the skin.\n\n## When to see a doctor\n\n"
            "See a doctor if the rash spreads.\n")
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"],
                           title="Dry skin", body=body)
    version = publishing.live_version_of(article)
    assert version.summary == "Dry air pulls water out of the skin. See a doctor if the rash spreads."
    assert feed_summary(version).startswith(version.summary + " Medically reviewed by")
    item = json_feed(client)["items"][0]
    assert "Winter skin care" not in item["content_text"] and "When to see" not in item["summary"]


def test_json_feed_1_1_carries_the_same_entries(client, cast, db, published):
    article, _other = published
    feed = json_feed(client)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] and feed["home_page_url"] == "http://localhost/articles"
    assert feed["feed_url"] == "http://localhost/feed.json"
    assert {i["id"] for i in feed["items"]} == set(entries(atom(client)))
    item = next(i for i in feed["items"] if i["id"].endswith(article.slug))
    v1 = publishing.live_version_of(article)
    assert item["url"] == item["id"] and item["title"] == v1.title
    assert item["date_published"] == item["date_modified"] == iso(v1.published_at)
    assert item["authors"] == [{"name": "Wren Alder", "url": f"http://localhost/writers/{cast['writer'].id}"}]
    assert item["tags"] == ["Dermatology"] and item["content_text"]
    _update_to_v2(db, cast, article)
    item2 = next(i for i in json_feed(client)["items"] if i["id"] == item["id"])
    v2 = publishing.live_version_of(article)
    assert item2["date_published"] == item["date_published"] and item2["date_modified"] == iso(v2.published_at)


def test_feeds_take_addresses_from_the_public_url_not_the_host(app, client, cast, published):
    app.config.update(PUBLIC_URL=PUBLIC, SITE_NAME="Harbor Health Library")
    forged = {"headers": {"Host": "evil.example"}}
    root = atom(client, **forged)
    assert b"evil.example" not in ET.tostring(root)
    assert all(i.startswith(PUBLIC + "/articles/") for i in entries(root))
    feed = json_feed(client, **forged)
    assert "evil.example" not in json.dumps(feed) and feed["feed_url"] == f"{PUBLIC}/feed.json"
    assert feed["authors"][0] == {"name": "Harbor Health Library", "url": PUBLIC}


@pytest.mark.parametrize("path", ["/articles", "/articles/{slug}", "/reviewers", "/about/medical-review"])
def test_public_pages_link_both_feeds(client, cast, published, path):
    html = client.get(path.format(slug=published[0].slug)).get_data(as_text=True)
    assert re.search(r'<link rel="alternate" type="application/atom\+xml"[^>]* href="/feed.atom">', html)
    assert re.search(r'<link rel="alternate" type="application/feed\+json"[^>]* href="/feed.json">', html)


def test_an_empty_site_has_valid_empty_feeds(client, db):
    root = atom(client)
    assert root.findall("a:entry", A) == [] and root.find("a:updated", A).text
    assert json_feed(client)["items"] == []


def test_summaries_leave_citation_numbers_out(app):
    body = "Too much can cause liver damage.[^liver] Take it as directed.\n\n[^liver]: NHS, Paracetamol, 2024.\n"
    assert '<sup class="cite">' in render_markdown(body)
    assert publishing.summary_of(render_markdown(body)) == "Too much can cause liver damage. Take it as directed."
