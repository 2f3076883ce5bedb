"""Markdown to safe HTML: the one renderer for the writer's preview and the published page.

markdown-it-py renders CommonMark (raw HTML in the source is escaped, not passed
through); nh3 then keeps only an allow-list of tags, attributes and URL schemes, so
no script, event handler, ``javascript:`` or ``data:`` URL reaches a reader. Links get
``rel="noopener nofollow"``.

Images from other sites are rendered as links ("Image: alt text"), never loaded: see ``_image``.

Footnote citations (``[^key]``) render as numbered superscript links to ``#source-N``; the
footnote definitions themselves are left out of the body: pages draw the numbered sources list
from the revision's stored sources (``sources.status``), with who checked each.
"""
from __future__ import annotations

import functools
import re

import nh3
from markdown_it.common.utils import escapeHtml

from reviewflow.sources.parsing import md as _md

TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}
ATTRIBUTES = {"a": {"href", "title", "id", "class"}, "img": {"src", "alt", "title"}, "ol": {"start"},
              "th": {"align"}, "td": {"align"}, "sup": {"class"}}
FOOTNOTE_BLOCK = ("footnote_block_open", "footnote_block_close")


def _citation(self, tokens, idx, options, env) -> str:
    """``[^key]`` as a numbered link to the source in the list below the article."""
    meta = tokens[idx].meta
    number, sub = meta["id"] + 1, meta.get("subId", 0)
    return (f'<sup class="cite"><a href="#source-{number}" id="cite-{number}-{sub}" class="cite-ref" '
            f'title="Source {number}">{number}</a></sup>')


_md.add_render_rule("footnote_ref", _citation)


def _on_this_site(src: str) -> bool:
    """A path on this site (``/static/…``, ``figure.png``): no scheme, no host, no backslash."""
    return not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//|^/?\\", src) and "\\" not in src


def _image(self, tokens, idx, options, env) -> str:
    """An image on this site stays an image; any other becomes a link to it, marked ``remote-image``.

    A remote image in a draft would be fetched by every reviewer's browser, telling its host their
    address and when they read the draft; as a link it is fetched only by whoever follows it. The
    Content-Security-Policy (``img-src 'self' data:``) refuses such images anyway (``headers``).
    """
    token = tokens[idx]
    src = token.attrGet("src") or ""
    alt = self.renderInlineAsText(token.children or [], options, env)
    if _on_this_site(src):
        return self.image(tokens, idx, options, env)
    label = escapeHtml(alt.strip() or src)
    return f'<a href="{escapeHtml(src)}" class="remote-image">Image: {label}</a>'


_md.add_render_rule("image", _image)


def _without_footnote_block(tokens: list) -> list:
    out, inside = [], False
    for token in tokens:
        if token.type == FOOTNOTE_BLOCK[0]:
            inside = True
        elif token.type == FOOTNOTE_BLOCK[1]:
            inside = False
        elif not inside:
            out.append(token)
    return out


def render_markdown(text: str) -> str:
    """Sanitised HTML for Markdown ``text``. A level-1 heading becomes level 2: the page has its own h1.

    The same text always gives the same HTML, and a revision's text never changes, so recent
    results are kept (per process, least recently used first out): the review page and the
    article page of a busy article render its Markdown once, not on every request.
    """
    return _render_cached(text or "")


@functools.lru_cache(maxsize=256)
def _render_cached(text: str) -> str:
    env: dict = {}
    html = _md.renderer.render(_without_footnote_block(_md.parse(text, env)), _md.options, env)
    html = re.sub(r"<(/?)h1>", r"<\1h2>", html)
    return nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener nofollow")


def plain_text(text: str) -> str:
    """The text a reader sees, without markup: for summaries and quote matching."""
    return re.sub(r"\s+", " ", nh3.clean(render_markdown(text), tags=set())).strip()
