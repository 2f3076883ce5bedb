"""The "more articles" beside a live article: the newest other articles on its topic and the newest others.

They change with every publish anywhere, the article's own text does not: so the finished page of a
live article (``public.fastpath``, ``store.FinishedStore``) holds two place-holders, and the lists
are put in when the page is served, from pieces each process draws once per change of the lists
(scope ``LISTS``): the newest ``RECENT + RELATED + 1`` live articles and, per topic, the newest
``RELATED + 1``. Putting a page together is a few list look-ups and a join; its ETag carries a hash
of what was put in, so a 304 is never given for a page whose lists changed.

The result is what the page's template drew before: ``RELATED`` others of the topic, newest first,
then ``RECENT`` others of the whole site that are not among them.
"""
from __future__ import annotations

import hashlib

from flask import current_app, request
from markupsafe import Markup

from reviewflow.public import dates, directory, queries
from reviewflow.public.pagecache import LISTS, TTLCache, public_cache

RECENT, RELATED = 5, 3
#: Place-holders in a finished live article page, replaced when it is served.
LAYOUT_MARK = Markup("<!--rf-layout-6d1f-->")
ASIDE_MARK = Markup("<!--rf-aside-6d1f-->")


def split(html: str) -> tuple[str, str, str]:
    """The page around its two place-holders (``LAYOUT_MARK`` first, then ``ASIDE_MARK``)."""
    head, rest = html.split(LAYOUT_MARK, 1)
    middle, tail = rest.split(ASIDE_MARK, 1)
    return head, middle, tail


def _pieces(rows: list, kind: str) -> tuple[tuple[int, str], ...]:
    module = current_app.jinja_env.get_template("public/_aside.html").module
    when = dates.live_text_dates(r.article_id for r in rows)
    if kind == "recent":
        return tuple((r.article_id, str(module.recent_item(r, when.get(r.article_id)))) for r in rows)
    return tuple((r.article_id, str(module.related_item(r, when.get(r.article_id), directory.excerpt)))
                 for r in rows)


def _recent_lists() -> tuple:
    module = current_app.jinja_env.get_template("public/_aside.html").module
    rows = queries.published_list(limit=RECENT + RELATED + 1)
    return _pieces(rows, "recent"), str(module.recent_head()), str(module.recent_foot()), \
        str(module.open()), str(module.close())


def _topic_lists(topic: str) -> tuple:
    module = current_app.jinja_env.get_template("public/_aside.html").module
    rows = queries.published_list(topic=topic, limit=RELATED + 1)
    return _pieces(rows, "related"), str(module.related_head(topic)), str(module.related_foot(topic))


def _keys(script_root: str, topic: str) -> tuple[tuple, tuple]:
    return ("aside", script_root, "recent"), ("aside", script_root, "topic", topic)


def cached_lists(cache: TTLCache, script_root: str, topic: str):
    """The pieces for ``topic`` from this process's cache, or None when either must be drawn."""
    recent_key, topic_key = _keys(script_root, topic)
    recent = cache.get(recent_key)
    related = cache.get(topic_key) if recent is not None else None
    return None if related is None else (recent, related)


def draw_lists(cache: TTLCache, topic: str):
    """Draw (in a request context) and keep the pieces for ``topic``."""
    recent_key, topic_key = _keys(request.script_root, topic)
    recent = cache.get(recent_key)
    if recent is None:
        recent = _recent_lists()
        cache.put(recent_key, recent, scope=LISTS)
    related = cache.get(topic_key)
    if related is None:
        related = _topic_lists(topic)
        cache.put(topic_key, related, scope=LISTS)
    return recent, related


def compose(lists, article_id: int) -> tuple[str, str, str]:
    """The layout class, the aside and a short hash of both for ``article_id``'s page."""
    (recent, recent_head, recent_foot, open_, close), (related, related_head, related_foot) = lists
    picked = [(aid, piece) for aid, piece in related if aid != article_id][:RELATED]
    chosen = [piece for _, piece in picked]
    skip = {aid for aid, _ in picked} | {article_id}
    others = [piece for aid, piece in recent if aid not in skip][:RECENT]
    if not chosen and not others:
        return "single ", "", "0"
    parts = [open_]
    if chosen:
        parts += ["\n", related_head, *("\n" + c for c in chosen), "\n", related_foot]
    if others:
        parts += ["\n", recent_head, *("\n" + o for o in others), "\n", recent_foot]
    parts += ["\n  ", close]
    aside = "".join(parts)
    return "workspace ", aside, hashlib.blake2b(aside.encode(), digest_size=6).hexdigest()


def for_page(article_id: int, topic: str) -> tuple[str, str, str]:
    """``compose`` in a request (the view's own render, staff pages)."""
    cache = public_cache()
    lists = cached_lists(cache, request.script_root, topic) or draw_lists(cache, topic)
    return compose(lists, article_id)
