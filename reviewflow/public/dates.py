"""When a published article's text last changed, apart from when it was last reviewed.

A re-review that approves unchanged text makes a new published version with a new "last
reviewed" date (PRODUCT.md); it must not move ``dateModified``, "Updated on" or the sitemap's
``lastmod``, which say when readers last got different text. A version's text changed when
its content hash differs from the version before it, so the text of a version dates from the
first of the unbroken run of versions, ending at it, that share its content hash. Judged by the
hash rather than by ``kind``: an update that republishes identical text changed nothing either.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from reviewflow.articles.models import Article
from reviewflow.extensions import db
from reviewflow.publishing.models import PublishedVersion


@dataclass(frozen=True)
class TextDates:
    """When an article was first published and when the text of the version shown last changed."""

    first_published: datetime
    text_changed: datetime

    @property
    def updated(self) -> bool:
        """True when readers got different text after the first publication ("Updated on")."""
        return self.text_changed > self.first_published


def text_dates(history: Sequence) -> TextDates:
    """``TextDates`` of the last version of ``history`` (published versions of one article, oldest
    first, each with ``content_hash`` and ``published_at``)."""
    changed = history[-1]
    for earlier in reversed(history[:-1]):
        if earlier.content_hash != changed.content_hash:
            break
        changed = earlier
    return TextDates(history[0].published_at, changed.published_at)


def _histories(article_ids: Iterable[int] | None) -> dict[int, list]:
    """The versions up to the live one of each live article (of ``article_ids``, or all), oldest
    first, by article id: one query over their small columns."""
    q = (select(PublishedVersion.article_id, PublishedVersion.slug, PublishedVersion.content_hash,
                PublishedVersion.published_at)
         .join(Article, (Article.id == PublishedVersion.article_id)
               & (PublishedVersion.version <= Article.live_version))
         .order_by(PublishedVersion.article_id, PublishedVersion.version))
    if article_ids is not None:
        ids = sorted(set(article_ids))
        if not ids:
            return {}
        q = q.where(PublishedVersion.article_id.in_(ids))
    histories: dict[int, list] = {}
    for row in db.session.execute(q):
        histories.setdefault(row.article_id, []).append(row)
    return histories


def live_text_dates(article_ids: Iterable[int] | None = None) -> dict[int, TextDates]:
    """``TextDates`` of the live version of each live article (of ``article_ids``, or all), by article id."""
    return {article_id: text_dates(rows) for article_id, rows in _histories(article_ids).items()}


def sitemap_entries() -> list[tuple[str, datetime]]:
    """``(slug, when its text last changed)`` of every live article, most recently changed first."""
    entries = [(rows[-1].slug, text_dates(rows).text_changed) for rows in _histories(None).values()]
    return sorted(entries, key=lambda e: (e[1], e[0]), reverse=True)
