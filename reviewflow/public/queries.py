"""The public record as readers see it: an article's published versions with their sign-offs, the
lists of live articles (keyset-paginated, newest first), topics, the sitemap's entries and who has
public work. Read-only, built from the stored published versions, never from drafts.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import defer, selectinload

from reviewflow import paging
from reviewflow.articles.models import Article
from reviewflow.auth.models import User
from reviewflow.errors import NotFound
from reviewflow.extensions import db
from reviewflow.public.pagecache import LISTS, public_cache
from reviewflow.publishing.models import PublishedReview, PublishedVersion
from reviewflow.publishing.services import versions_of


@dataclass
class PublicArticle:
    """Everything the public page and ``/api/v1/published/{slug}`` show, loaded in a few queries."""

    article: Article
    version: PublishedVersion | None
    versions: list[PublishedVersion]
    writer: User
    reviewers: dict[int, User]

    @property
    def gone(self) -> bool:
        return self.version is None

    @property
    def first_published_at(self):
        return self.versions[0].published_at if self.versions else None


def public_article(slug: str) -> PublicArticle:
    """The latest published version of ``slug`` with its history; NotFound if never published.

    An unpublished article comes back with ``version`` None (``gone``): its address answers 410.
    """
    if not isinstance(slug, str) or len(slug) > 200:
        raise NotFound("There is no article at this address.")
    article = db.session.scalar(select(Article).where(Article.slug == slug))
    if article is None:
        raise NotFound("There is no article at this address.")
    versions = versions_of(article.id)
    if not versions:
        raise NotFound("There is no article at this address.")
    live = next((v for v in versions if v.version == article.live_version), None)
    ids = {r.reviewer_id for v in versions for r in v.reviews}
    reviewers = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids))
                                                     .options(selectinload(User.profile)))} if ids else {}
    return PublicArticle(article, live, versions, article.writer, reviewers)


def _live_versions():
    """Published versions that are live now: the article's ``live_version``."""
    return select(PublishedVersion).join(Article, (Article.id == PublishedVersion.article_id)
                                         & (Article.live_version == PublishedVersion.version))


def _live_list(topic: str | None = None, reviewer_id: int | None = None, writer_id: int | None = None,
               exclude_article_id: int | None = None):
    """Live versions, filtered: topic, the reviewer behind the live version, the writer."""
    q = _live_versions().options(defer(PublishedVersion.body_html))  # lists show the summary, not the text
    if topic:
        q = q.where(PublishedVersion.topic == topic)
    if reviewer_id is not None:
        q = q.where(PublishedVersion.id.in_(select(PublishedReview.published_version_id)
                                            .where(PublishedReview.reviewer_id == reviewer_id)))
    if writer_id is not None:
        q = q.where(PublishedVersion.writer_id == writer_id)
    if exclude_article_id is not None:
        q = q.where(PublishedVersion.article_id != exclude_article_id)
    return q


def published_list(topic: str | None = None, limit: int = 20, **filters) -> list[PublishedVersion]:
    """The ``limit`` newest live articles (their live versions), filtered as ``_live_list``."""
    return list(db.session.scalars(paging.descending(_live_list(topic, **filters), LIVE_ORDER, None, None, limit)))


def _live_key(version: PublishedVersion) -> tuple[int, int]:
    return paging.micros(version.published_at), version.id


#: Cursors of the public lists: ``<published_at in microseconds since 1970>.<id>`` of a live version,
#: without a letter (these links are public and older than the letters).
LIVE_KEYSET = paging.Keyset("", (paging.MAX_MICROS, paging.MAX_ID), _live_key)
LIVE_ORDER = (PublishedVersion.published_at, PublishedVersion.id)


@dataclass
class LivePage(paging.KeysetPage):
    """A page of a public list: nothing counts the whole list, so the summary counts the page."""

    noun: str = "article"

    @property
    def summary(self) -> str:
        n = len(self.items)
        return f"{n} {self.noun}{'' if n == 1 else 's'}, newest first" if n else ""


def published_page(cursor: paging.Cursor | None, per_page: int, topic: str | None = None, **filters) -> LivePage:
    """Live articles, newest first, keyset-paginated on (published_at, id) of the live version from
    ``cursor`` (None: the first page); filtered as ``_live_list``."""
    stmt = _live_list(topic, **filters)

    def run(at: paging.Cursor | None) -> list[PublishedVersion]:
        values = (paging.moment(at.key[0]), at.key[1]) if at else None
        return list(db.session.scalars(paging.descending(stmt, LIVE_ORDER, at, values, per_page + 1)))

    return LivePage(*paging.fetch(run, cursor, per_page))


def topics() -> list[tuple[str, int]]:
    """Topics of the live articles with how many each has, alphabetically (the topic as published).

    Counting reads every live version, so the answer is kept in the process's public cache: at most
    one count per change of the lists (a publish, a re-review, an unpublish) per process.
    """
    cache = public_cache()
    found = cache.get(("topics",))
    if found is None:
        found = _count_topics()
        cache.put(("topics",), found, scope=LISTS)
    return found


def _count_topics() -> list[tuple[str, int]]:
    return [tuple(r) for r in db.session.execute(
        select(PublishedVersion.topic, func.count()).join(Article, (Article.id == PublishedVersion.article_id)
                                                          & (Article.live_version == PublishedVersion.version))
        .group_by(PublishedVersion.topic).order_by(PublishedVersion.topic)).all()]


def sitemap_entries() -> list[tuple[str, datetime]]:
    """``(slug, published_at)`` of every live article, newest first: one query."""
    return [tuple(r) for r in db.session.execute(
        select(PublishedVersion.slug, PublishedVersion.published_at)
        .join(Article, (Article.id == PublishedVersion.article_id) & (Article.live_version == PublishedVersion.version))
        .order_by(PublishedVersion.published_at.desc(), PublishedVersion.id.desc())).all()]


def has_public_reviews(user_id: int) -> bool:
    """True when the person signed off any published version (their byline links must keep working)."""
    return db.session.scalar(select(PublishedReview.id).where(PublishedReview.reviewer_id == user_id).limit(1)) \
        is not None


def has_published_writing(user_id: int) -> bool:
    """True when the person wrote any published version."""
    return db.session.scalar(select(PublishedVersion.id).where(PublishedVersion.writer_id == user_id).limit(1)) \
        is not None
