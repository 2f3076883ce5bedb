"""Markdown to safe HTML: the one renderer for the writer's preview and the published page.

markdown-it-py renders CommonMark (raw HTML in the source is escaped, not passed
through); nh3 then keeps only an allow-list of tags, attributes and URL schemes, so
no script, event handler, ``javascript:`` or ``data:`` URL reaches a reader. Links get
``rel="noopener nofollow"``.
"""
from __future__ import annotations

import functools
import re

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"},
              "th": {"align"}, "td": {"align"}}


def render_markdown(text: str) -> str:
    """Sanitised HTML for Markdown ``text``. A level-1 heading becomes level 2: the page has its own h1.

    The same text always gives the same HTML, and a revision's text never changes, so recent
    results are kept (per process, least recently used first out): the review page and the
    article page of a busy article render its Markdown once, not on every request.
    """
    return _render_cached(text or "")


@functools.lru_cache(maxsize=256)
def _render_cached(text: str) -> str:
    html = _md.render(text)
    html = re.sub(r"<(/?)h1>", r"<\1h2>", html)
    return nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener nofollow")


def plain_text(text: str) -> str:
    """The text a reader sees, without markup: for summaries and quote matching."""
    return re.sub(r"\s+", " ", nh3.clean(render_markdown(text), tags=set())).strip()
