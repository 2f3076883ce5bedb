"""The public site's documents for machines: the Atom feed, the JSON Feed, the sitemap and robots.txt.

Both feeds carry one entry per live article, not per version: its id is the article's permanent
address, ``published`` when it first went live and ``updated`` when its latest version did (a new
version, a re-review included, moves it; the id stays). Every absolute address comes from
``reviewflow.public_url`` (``PUBLIC_URL``), never from the Host header. Each response is public for
``PUBLIC_CACHE`` with an ETag, so a poller's revalidation is a 304.

The views are registered on the public blueprint by ``register`` (endpoints ``public.feed``,
``public.feed_json``, ``public.sitemap``, ``public.robots``).
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from flask import Blueprint, Response, request

from reviewflow import paging, public_url
from reviewflow.extensions import iso
from reviewflow.public import dates, fastpath, queries
from reviewflow.public.pagecache import LISTS, SITE

#: What every public response allows caches: one second without revalidation, then a conditional
#: request. Never ``immutable``: a version's own address turns 410 when its article is withdrawn.
PUBLIC_CACHE = "public, max-age=1, must-revalidate"
#: Staff paths that robots.txt asks crawlers to leave alone (they are noindex as well).
STAFF_PATHS = ("/work/", "/dashboard", "/reviews", "/audit", "/admin/", "/account", "/notifications", "/login",
               "/logout", "/api/", "/healthz")
ATOM = "http://www.w3.org/2005/Atom"
SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"
JSON_FEED = "https://jsonfeed.org/version/1.1"
#: How many articles the feeds carry, newest first.
FEED_SIZE = 20
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def sentence(text: str) -> str:
    """``text`` ending in exactly one full stop: "…, Ph.D." stays as it is, never "Ph.D..";
    text ending in an ellipsis or other closing punctuation is left alone."""
    text = text.strip()
    return text if text.endswith((".", "…", "!", "?")) else text + "."


def feed_summary(v) -> str:
    """The entry's summary: the article's opening text (headings left out) and who reviewed it."""
    reviewed = " and ".join(f"{r.name}, {r.credentials}" if r.credentials else r.name for r in v.reviews)
    parts = [sentence(v.summary)] if v.summary else []
    if reviewed:
        parts.append(sentence(f"Medically reviewed by {reviewed}"))
    return " ".join(parts)


def _feed_rows():
    """The newest live articles and their dates (first published, text changed), by article id."""
    rows = queries.published_list(limit=FEED_SIZE)
    return rows, dates.live_text_dates(v.article_id for v in rows)


def _xml(text) -> str:
    return _NOT_XML.sub("", str(text or ""))


def _sub(parent, tag: str, text=None, **attrs):
    element = ET.SubElement(parent, tag, {k: _xml(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _xml(text)
    return element


def _public(response: Response, scope: int = LISTS) -> Response:
    """Public for ``PUBLIC_CACHE`` with an ETag; finished for the fast path until ``scope`` changes."""
    response.headers["Cache-Control"] = PUBLIC_CACHE
    response.add_etag()
    fastpath.share(request.environ, scope)
    return response.make_conditional(request)


def _xml_response(root) -> Response:
    return _public(Response(ET.tostring(root, encoding="utf-8", xml_declaration=True),
                            mimetype="application/atom+xml" if root.tag == "feed" else "application/xml"))


def _feed_title() -> str:
    return f"{public_url.site_name()}: medically reviewed health articles"


FEED_SUBTITLE = "Every article is reviewed by a credentialed medical reviewer before it is published."


def atom():
    """Atom 1.0: one entry per live article (id: its address; ``published``: first published;
    ``updated``: its latest version), newest first, by the publisher (``SITE_NAME``)."""
    rows, when = _feed_rows()
    link = public_url.public_url_for
    root = ET.Element("feed", xmlns=ATOM)
    _sub(root, "title", _feed_title())
    _sub(root, "subtitle", FEED_SUBTITLE)
    _sub(root, "id", link("public.index"))
    _sub(root, "link", rel="self", type="application/atom+xml", href=link("public.feed"))
    _sub(root, "link", rel="alternate", type="text/html", href=link("public.index"))
    _sub(root, "updated", iso(max((v.published_at for v in rows), default=paging.EPOCH), "seconds"))
    site = _sub(root, "author")
    _sub(site, "name", public_url.site_name())
    _sub(site, "uri", public_url.base())
    _sub(root, "icon", link("static", filename="favicon.svg"))
    for v in rows:
        url = link("public.article", slug=v.slug)
        entry = _sub(root, "entry")
        _sub(entry, "title", v.title)
        _sub(entry, "id", url)
        _sub(entry, "link", rel="alternate", type="text/html", href=url)
        first = when[v.article_id].first_published if v.article_id in when else v.published_at
        _sub(entry, "published", iso(first, "seconds"))
        _sub(entry, "updated", iso(v.published_at, "seconds"))
        author = _sub(entry, "author")
        _sub(author, "name", v.writer_name)
        _sub(author, "uri", link("public.writer", user_id=v.writer_id))
        _sub(entry, "category", term=v.topic)
        _sub(entry, "summary", feed_summary(v), type="text")
    return _xml_response(root)


def json_feed():
    """JSON Feed 1.1 of the same entries as the Atom feed (``application/feed+json``)."""
    rows, when = _feed_rows()
    link = public_url.public_url_for
    items = []
    for v in rows:
        url = link("public.article", slug=v.slug)
        first = when[v.article_id].first_published if v.article_id in when else v.published_at
        items.append({
            "id": url, "url": url, "title": v.title, "summary": v.summary, "content_text": feed_summary(v),
            "date_published": iso(first, "seconds"), "date_modified": iso(v.published_at, "seconds"),
            "authors": [{"name": v.writer_name, "url": link("public.writer", user_id=v.writer_id)}],
            "tags": [v.topic], "language": "en",
        })
    feed = {
        "version": JSON_FEED, "title": _feed_title(), "description": FEED_SUBTITLE,
        "home_page_url": link("public.index"), "feed_url": link("public.feed_json"), "language": "en",
        "favicon": link("static", filename="favicon.svg"),
        "authors": [{"name": public_url.site_name(), "url": public_url.base() or link("public.index")}],
        "items": items,
    }
    body = json.dumps(feed, ensure_ascii=False, indent=1)
    return _public(Response(body, mimetype="application/feed+json"))


def sitemap():
    """Every live article with when its text last changed (a re-review does not move it), and the
    article list."""
    entries = dates.sitemap_entries()
    root = ET.Element("urlset", xmlns=SITEMAP)
    home = _sub(root, "url")
    _sub(home, "loc", public_url.public_url_for("public.index"))
    if entries:
        _sub(home, "lastmod", iso(entries[0][1], "seconds"))
    for slug, changed in entries:
        url = _sub(root, "url")
        _sub(url, "loc", public_url.public_url_for("public.article", slug=slug))
        _sub(url, "lastmod", iso(changed, "seconds"))
    return _xml_response(root)


def robots():
    """Crawlers may read the public site, not the staff paths; the sitemap at the public address."""
    root = request.script_root
    # Disallow lines first: some parsers take the first rule that matches, not the longest.
    lines = ["User-agent: *", *(f"Disallow: {root}{path}" for path in STAFF_PATHS), f"Allow: {root}/"]
    lines += ["", f"Sitemap: {public_url.public_url_for('public.sitemap')}", ""]
    return _public(Response("\n".join(lines), mimetype="text/plain"), SITE)


def register(bp: Blueprint) -> None:
    """The four documents as routes of the public blueprint."""
    bp.add_url_rule("/feed.atom", "feed", atom, methods=["GET"])
    bp.add_url_rule("/feed.json", "feed_json", json_feed, methods=["GET"])
    bp.add_url_rule("/sitemap.xml", "sitemap", sitemap, methods=["GET"])
    bp.add_url_rule("/robots.txt", "robots", robots, methods=["GET"])
