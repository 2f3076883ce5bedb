"""Finishing every public page ahead of readers: ``flask --app reviewflow finish-pages``.

A finished page is kept only for the build that made it (``FinishedPage.build``: the code, templates
and settings), so after a deploy the first reader of each page renders it again. Run this once after
``db upgrade`` and before traffic reaches the new release: it asks for every live article's page, the
article index and the feeds as an anonymous reader would, on the public address (``PUBLIC_URL``), so
the fast path finishes and stores each one exactly as a reader's request would have. Readers then never
meet a page that is not finished; pages already finished for this build are served, not rendered again.
"""
from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import select

from reviewflow.articles.models import Article
from reviewflow.extensions import db

#: The pages beside the articles that every reader can reach.
LISTS = ("/articles", "/feed.atom", "/feed.json", "/sitemap.xml", "/robots.txt")


def finish_pages(app: Flask, log: Callable[[str], None] = print) -> tuple[int, int]:
    """Ask for every live article's page and the lists once; returns (pages answered 2xx, other answers)."""
    slugs = list(db.session.scalars(select(Article.slug).where(Article.live_version.is_not(None))
                                    .order_by(Article.id)))
    db.session.remove()
    client = app.test_client()
    base = app.config.get("PUBLIC_URL") or "http://localhost"
    good = bad = 0
    for n, path in enumerate([*LISTS, *(f"/articles/{slug}" for slug in slugs)], 1):
        response = client.get(path, base_url=base)
        if 200 <= response.status_code < 300:
            good += 1
        else:
            bad += 1
            log(f"  {path}: {response.status_code}")
        response.close()
        db.session.remove()  # the command's own context holds the session: no identity map grows
        if n % 500 == 0:
            log(f"  {n} of {len(slugs) + len(LISTS)} pages")
    return good, bad
