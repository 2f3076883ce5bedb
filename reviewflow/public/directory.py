"""The public site's directory of medical reviewers and the related articles beside an article.

The directory lists the people a reader may rely on today: active accounts with the reviewer role
whose current credentials an admin verified and whose licence has not expired, each with how many
live articles they reviewed. A publisher has tens of reviewers, not thousands, so it is one page
in two queries, grouped by specialty.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from sqlalchemy import func, select

from reviewflow.articles.models import Article
from reviewflow.auth.models import ReviewerProfile, User, UserRole
from reviewflow.extensions import db, utcnow
from reviewflow.public.queries import published_list
from reviewflow.publishing.models import PublishedReview, PublishedVersion


@dataclass(frozen=True)
class ListedReviewer:
    """One reviewer in the directory: the person, their current verified profile, their live reviews."""

    user: User
    profile: ReviewerProfile
    live_reviews: int


def reviewer_directory() -> list[tuple[str, list[ListedReviewer]]]:
    """Verified, currently licensed reviewers by specialty (alphabetically), each by name."""
    today = utcnow().date()
    rows = db.session.execute(
        select(User, ReviewerProfile)
        .join(ReviewerProfile, (ReviewerProfile.user_id == User.id) & (ReviewerProfile.version == User.profile_version))
        .where(User.active.is_(True), ReviewerProfile.verified_at.is_not(None),
               ReviewerProfile.license_expires >= today,
               User.id.in_(select(UserRole.user_id).where(UserRole.role == "reviewer")))
        .order_by(ReviewerProfile.specialty, User.name, User.id)).all()
    counts = _live_review_counts([u.id for u, _ in rows])
    listed = [ListedReviewer(u, p, counts.get(u.id, 0)) for u, p in rows]
    return [(specialty, list(group)) for specialty, group in groupby(listed, key=lambda r: r.profile.specialty)]


def _live_review_counts(user_ids: list[int]) -> dict[int, int]:
    """How many live articles each person signed off, by user id (one query)."""
    if not user_ids:
        return {}
    live = (PublishedVersion.article_id == Article.id) & (PublishedVersion.version == Article.live_version)
    return dict(db.session.execute(
        select(PublishedReview.reviewer_id, func.count(func.distinct(PublishedVersion.article_id)))
        .join(PublishedVersion, PublishedVersion.id == PublishedReview.published_version_id)
        .join(Article, live)
        .where(PublishedReview.reviewer_id.in_(user_ids))
        .group_by(PublishedReview.reviewer_id)).all())


def related_articles(version: PublishedVersion, limit: int = 3) -> list[PublishedVersion]:
    """Other live articles on the same topic as ``version``, newest first."""
    return published_list(topic=version.topic, limit=limit, exclude_article_id=version.article_id)


def excerpt(summary: str, limit: int = 160) -> str:
    """The start of a stored summary (headings already left out: ``services.summary_of``), cut at a
    word with an ellipsis, never mid-word and never "..": for short lists beside an article."""
    text = " ".join((summary or "").split())
    if len(text) <= limit:
        return text
    return text[:limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.…") + "…"
