"""The public site's pages: articles, versions, the lists, the reviewer directory, reviewer and writer
pages (the editor's publish pages are in ``reviewflow.publishing.views``). The feeds, sitemap and
robots.txt are in ``feeds``; JSON-LD and the Open Graph and Twitter tags of an article page in
``structured``; the directory in ``directory``; the "more articles" beside an article in ``aside``.

Public pages are built from the stored published versions only, never from drafts. The
reader-facing part of an article page is rendered once per version and kept in this process until
a change of that article evicts it (``public.pagecache``); for anonymous readers the finished
response goes to the fast path (``public.fastpath``), which keeps it in memory and in the shared
store, with place-holders where each process puts the "more articles" lists (``public.aside``).
The layout around it is drawn per request: anonymous readers get a page free of session state (no
CSRF token, no cookie) that shared caches may keep; signed-in staff get their menu and flash
messages, sent ``private, no-cache``.

Every public response, a version's permanent address included, may be kept by browsers and
shared caches for one second without revalidation (``PUBLIC_CACHE``): with this process's own
second that keeps a withdrawal from any reader for at most two seconds (PRODUCT.md). An ETag
(and Last-Modified on article pages) makes the revalidation a cheap 304. Absolute addresses
(canonical, JSON-LD, feed, sitemap, robots.txt) come from ``reviewflow.public_url``, never
from the Host header; every other page of the app is ``noindex`` (``X-Robots-Tag`` here, a
meta tag in ``base.html``).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, current_app, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user
from jinja2 import Undefined
from markupsafe import Markup

from reviewflow import public_url
from reviewflow.auth import services as accounts
from reviewflow.errors import NotFound
from reviewflow.public import aside, dates, directory, fastpath, feeds, queries, structured
from reviewflow.public.feeds import PUBLIC_CACHE
from reviewflow.public.pagecache import LISTS, public_cache
from reviewflow.sources import services as sources

bp = Blueprint("public", __name__)
feeds.register(bp)

#: Shadows Flask-WTF's ``csrf_token`` global on anonymous public pages, so no session is created for readers.
NO_CSRF = Undefined(name="csrf_token")
#: Endpoints of the public site: search engines may index them; every other response is noindex.
INDEXABLE = frozenset({"public.home", "public.index", "public.article", "public.version",
                       "public.reviewers", "public.reviewer", "public.writer", "public.feed",
                       "public.feed_json", "public.sitemap", "public.robots", "site.medical_review",
                       "static"})


# Rendering and caching ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Page:
    """The reader-facing parts of a public article page: the same for every reader, so cached."""

    status: int
    title: str
    head: Markup
    breadcrumb: Markup
    main: Markup
    cache_control: str = PUBLIC_CACHE
    etag: str | None = None
    last_modified: datetime | None = None
    #: The article shown (the scope of the page's cache entries).
    article_id: int = 0
    #: The topic of a live article page, whose "more articles" are put in when it is served; None elsewhere.
    aside_topic: str | None = None


def _personal() -> bool:
    """True when the response carries something of one person: their menu or a flash message.

    Read before rendering: rendering consumes the flash messages.
    """
    return current_user.is_authenticated or bool(session.get("_flashes"))


def _render(personal: bool, template: str, **context) -> str:
    if not personal:
        context["csrf_token"] = NO_CSRF
    return render_template(template, **context)


def _respond(html, personal: bool, status: int = 200, cache_control: str = PUBLIC_CACHE, etag: str | None = None,
             last_modified: datetime | None = None):
    """Public caching for anonymous readers (``PUBLIC_CACHE``; an ETag, the body's hash when the page
    has none of its own; Last-Modified when given; 304 to a matching conditional request);
    ``private, no-cache`` for staff."""
    response = make_response(html, status)
    if personal:
        response.headers["Cache-Control"] = "private, no-cache"
        return response
    response.headers["Cache-Control"] = cache_control
    if status == 200:
        if etag:
            response.set_etag(etag)
        else:
            response.add_etag()
        if last_modified:
            response.last_modified = last_modified
        response.make_conditional(request)
    return response


def public_page(template: str, status: int = 200, **context):
    """A public page drawn per request: session-free and publicly cacheable for anonymous readers
    (``PUBLIC_CACHE`` with an ETag of the body), ``private, no-cache`` for staff."""
    personal = _personal()
    return _respond(_render(personal, template, **context), personal, status)


def _cached(key: tuple, build) -> Page:
    """The page under ``key`` from this process's cache, or built and stored under its article's scope.
    Keyed by the public site's address, the request's own in development, so absolute URLs in one
    host's page never reach another's."""
    cache = public_cache()
    key = (public_url.base(), *key)
    page = cache.get(key)
    if page is None:
        page = build()
        cache.put(key, page, scope=page.article_id)
    return page


def _serve(page: Page):
    """The page in the layout, with its "more articles" put in (``public.aside``). For anonymous readers the
    finished response is the same for all of them, so it is handed to the fast path (``fastpath``), the
    place-holders kept, with the article as its scope."""
    personal = _personal()
    html = _render(personal, "public/article.html", page=page)
    etag, parts = page.etag, None
    if page.aside_topic is not None:
        layout, more, stamp = aside.for_page(page.article_id, page.aside_topic)
        parts = aside.split(html)
        html = parts[0] + layout + parts[1] + more + parts[2]
        etag = f"{page.etag}-{stamp}"
    if not personal:
        fastpath.share(request.environ, page.article_id, parts=parts,
                       aside=(page.article_id, page.aside_topic) if parts else None, etag=page.etag)
    return _respond(html, personal, page.status, page.cache_control, etag, page.last_modified)


def _source_changes(history) -> dict[int, str]:
    """For each version whose sources differ from the version before: a sentence saying how."""
    out, before = {}, []
    for x in history:
        now = x.sources
        if x.version > 1:
            change = sources.changes_between(before, now)
            parts = [f"{verb} {', '.join(keys)}" for verb, keys in (
                ("added", [_number(now, k) for k in change["added"]]),
                ("updated", [_number(now, k) for k in change["changed"]]),
                ("removed", [f"“{k}”" for k in change["removed"]])) if keys]
            if parts:
                out[x.version] = "Sources changed: " + "; ".join(parts) + "."
        before = now
    return out


def _number(items: list[dict], key: str) -> str:
    return next((f"source {i}" for i, s in enumerate(items, 1) if s["key"] == key), key)


def _version_page(pa: queries.PublicArticle, version, permanent: bool) -> Page:
    """Render the reader-facing parts of ``version``; ``permanent`` for its own address. Either way
    the canonical address is the live article's: a version's page is a copy of what it was.

    The ETag is the version's with a hash of what was rendered, so it also changes when the parts
    around the text do (the reviewers' bios, the recent articles, the site's name).
    """
    history = [v for v in pa.versions if v.version <= version.version]
    when = dates.text_dates(history)
    url = public_url.public_url_for("public.article", slug=pa.article.slug)
    context = {"v": version, "pa": pa, "history": history, "permanent": permanent,
               "layout": Markup("single ") if permanent else aside.LAYOUT_MARK,
               "aside": "" if permanent else aside.ASIDE_MARK, "when": when,
               "source_changes": _source_changes(history),
               "first_published": when.first_published, "reviewers": pa.reviewers, "writer": pa.writer}
    head = render_template("public/_article_head.html", data=structured.jsonld(version, when, url), canonical=url,
                           social=structured.social_tags(version, when, url))
    crumbs = [("Articles", url_for("public.index")),
              (version.topic, url_for("public.index", topic=version.topic))]
    crumbs += [(version.title, url_for("public.article", slug=pa.article.slug)),
               (f"Version {version.version}", None)] if permanent else [(version.title, None)]
    breadcrumb, main = _breadcrumb(crumbs), render_template("public/_article.html", **context)
    rendered = hashlib.sha256("\0".join((head, breadcrumb, main)).encode()).hexdigest()[:16]
    return Page(200, version.title, Markup(head), breadcrumb, Markup(main), PUBLIC_CACHE,
                f"{version.etag}-{rendered}", version.published_at, pa.article.id,
                None if permanent else version.topic)


def _gone_page(pa: queries.PublicArticle) -> Page:
    """The 410 notice of an unpublished article, named by the title it last had on the public site:
    ``article.title`` is the newest draft's, which no reader has seen and no reviewer may have read."""
    title = pa.versions[-1].title
    main = render_template("public/_gone.html", article=pa.article, title=title)
    return Page(410, f"{title}: no longer published", Markup(""),
                _breadcrumb([("Articles", url_for("public.index")), (title, None)]), Markup(main),
                article_id=pa.article.id)


def _breadcrumb(items) -> Markup:
    return Markup(render_template("public/_breadcrumb.html", items=items))


def _article_page(slug: str) -> Page:
    pa = queries.public_article(slug)
    return _gone_page(pa) if pa.gone else _version_page(pa, pa.version, permanent=False)


def _permanent_page(slug: str, n: int) -> Page:
    pa = queries.public_article(slug)
    if pa.gone:
        return _gone_page(pa)
    version = next((v for v in pa.versions if v.version == n), None)
    if version is None:
        raise NotFound(f"“{pa.versions[-1].title}” has no published version {n}.")  # never a draft's title
    return _version_page(pa, version, permanent=True)


# Keyset pagination ---------------------------------------------------------------------------------

def _list_page(endpoint: str, template: str, filters: dict, **context):
    """A public list page: one page of live articles (``filters`` as ``queries.published_page``), each
    row with its dates, drawn in ``template``; publicly cacheable for anonymous readers."""
    personal = _personal()
    rows, page = _keyset_list(endpoint, **filters)
    rows_dates = dates.live_text_dates(v.article_id for v in rows)
    if not personal and endpoint == "public.index":
        fastpath.share(request.environ, LISTS)  # the lists of live articles: finished until the next change
    return _respond(_render(personal, template, rows=rows, page=page, dates=rows_dates, **context), personal)


def _keyset_list(endpoint: str, **filters):
    """One page of live articles for ``endpoint`` (``?before=`` / ``?after=`` cursors) and its navigation."""
    keyset = queries.LIVE_KEYSET
    page = queries.published_page(keyset.read(request.args), current_app.config.get("PER_PAGE", 25), **filters)
    args = dict(request.view_args or {})
    if filters.get("topic"):
        args["topic"] = filters["topic"]
    keyset.link(page, endpoint, **args)
    return page.items, page


# Public pages -------------------------------------------------------------------------------------

@bp.get("/")
def home():
    """The first page a newcomer opens: the articles, or the dashboard when signed in."""
    return redirect(url_for("articles.dashboard" if current_user.is_authenticated else "public.index"))


@bp.after_app_request
def _noindex(response):
    """Keep everything but the public site out of search engines: staff pages, /login, the API."""
    if request.endpoint not in INDEXABLE:
        response.headers.setdefault("X-Robots-Tag", "noindex")
    return response


@bp.get("/articles")
def index():
    """Live articles, newest first, by topic, with the topic list and counts."""
    topic = (request.args.get("topic") or "").strip()[:120] or None
    return _list_page("public.index", "public/index.html", {"topic": topic}, topic=topic, topics=queries.topics())


@bp.get("/articles/<slug>")
def article(slug: str):
    """The latest published version; 410 with the reason once unpublished, 404 if never published."""
    return _serve(_cached(("article", slug), lambda: _article_page(slug)))


@bp.get("/articles/<slug>/v<int:n>")
def version(slug: str, n: int):
    """One published version at its permanent address (its canonical is the live article's)."""
    return _serve(_cached(("version", slug, n), lambda: _permanent_page(slug, n)))


@bp.get("/reviewers")
def reviewers():
    """The directory of medical reviewers: verified, currently licensed, by specialty."""
    return public_page("public/reviewers.html", groups=directory.reviewer_directory())


@bp.get("/reviewers/<int:user_id>")
def reviewer(user_id: int):
    """A medical reviewer's current credentials and the live articles they reviewed (404 for anyone else)."""
    person = accounts.get_user(user_id)
    if not (person.has_role("reviewer") or queries.has_public_reviews(person.id)):
        raise NotFound("There is no medical reviewer at this address.")
    return _list_page("public.reviewer", "public/reviewer.html", {"reviewer_id": person.id}, person=person,
                      profile=person.profile)


@bp.get("/writers/<int:user_id>")
def writer(user_id: int):
    """A writer's bio and the live articles they wrote; 404 for anyone who never published (a writer's
    page would otherwise reveal the name and bio of every account with the writer role)."""
    person = accounts.get_user(user_id)
    if not queries.has_published_writing(person.id):
        raise NotFound("There is no writer at this address.")
    return _list_page("public.writer", "public/writer.html", {"writer_id": person.id}, person=person)
