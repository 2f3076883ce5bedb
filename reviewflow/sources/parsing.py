"""Reading a revision's sources from its Markdown footnotes (mdit-py-plugins' footnote plugin).

A writer cites with ``[^key]`` in the text and defines ``[^key]: citation text, with a URL or
DOI``. A revision's sources are the defined footnotes it cites, numbered in order of first
citation; a citation without a definition, or a definition never cited, is a problem the writer
is shown before submitting (``citation_problems``), not a source.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin

#: The one Markdown dialect of reviewflow: CommonMark, tables, footnotes (no inline ``^[…]`` notes:
#: a source needs a key). ``rendering`` renders with it too.
md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
md.use(footnote_plugin, inline=False)

KEY_MAX = 100
URL_RE = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
DOI_RE = re.compile(r"\b(10\.\d{4,9}/[^\s<>\"]+)", re.IGNORECASE)
CITATION_RE = re.compile(r"\[\^([^\]\s]+)\]")
TRAILING = ".,;:"


@dataclass(frozen=True)
class Parsed:
    """A Markdown text's tokens and the footnote bookkeeping the plugin left in ``env``."""

    tokens: list[Token]
    env: dict


def parse(text: str) -> Parsed:
    env: dict = {}
    return Parsed(md.parse(text or "", env), env)


def normalise(text: str) -> str:
    """A footnote's text as compared between revisions: NFC, runs of white space as one space."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()


def text_hash(text: str) -> str:
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


def _first_url(text: str) -> str | None:
    match = URL_RE.search(text)
    return match.group(0).rstrip(TRAILING) if match else None


def _doi(text: str) -> str | None:
    match = DOI_RE.search(text)
    return match.group(1).rstrip(TRAILING) if match else None


def _definitions(tokens: list[Token]) -> dict[int, str]:
    """The text of each footnote definition, by the plugin's footnote id (its citation order)."""
    texts: dict[int, list[str]] = {}
    current: int | None = None
    for token in tokens:
        if token.type == "footnote_open":
            current = token.meta["id"]
            texts[current] = []
        elif token.type == "footnote_close":
            current = None
        elif current is not None and token.type == "inline":
            texts[current].append(token.content)
    return {ident: normalise(" ".join(parts)) for ident, parts in texts.items()}


def sources_of(body: str) -> list[dict]:
    """The sources ``body`` cites, in order of first citation:
    ``{position, key, text, url, doi, text_hash}``. ``url`` is the citation's first web address,
    else its DOI's address at doi.org, else None."""
    parsed = parse(body)
    footnotes = parsed.env.get("footnotes", {})
    texts = _definitions(parsed.tokens)
    sources = []
    for ident, note in sorted(footnotes.get("list", {}).items()):
        key = note.get("label")
        if key is None:
            continue
        text = texts.get(ident, "")
        doi = _doi(text)
        url = _first_url(text) or (f"https://doi.org/{doi}" if doi else None)
        sources.append({"position": len(sources) + 1, "key": key[:KEY_MAX], "text": text, "url": url,
                        "doi": doi, "text_hash": text_hash(text)})
    return sources


def citation_problems(body: str) -> list[str]:
    """What is wrong with the footnotes of ``body``, in words for its writer (empty when nothing is)."""
    parsed = parse(body)
    refs = parsed.env.get("footnotes", {}).get("refs", {})
    problems = []
    undefined: list[str] = []
    for token in parsed.tokens:
        if token.type != "inline":
            continue
        for child in token.children or []:
            if child.type == "text":
                undefined += [k for k in CITATION_RE.findall(child.content) if k not in undefined]
    for key in undefined:
        problems.append(f"[^{key}] is cited but has no definition: add a line \"[^{key}]: citation, with its "
                        "URL or DOI\" at the end.")
    for label, ident in refs.items():
        if ident == -1:
            problems.append(f"[^{label[1:]}] is defined but never cited in the text.")
    for source in sources_of(body):
        if not source["url"]:
            problems.append(f"[^{source['key']}] gives no web address or DOI, so a reviewer cannot open it.")
        if len(source["key"]) >= KEY_MAX:
            problems.append(f"The key of [^{source['key']}…] is longer than {KEY_MAX} characters.")
    return problems
