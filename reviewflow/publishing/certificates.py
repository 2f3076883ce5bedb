"""Review certificates: a published version with each sign-off joined to the signed decision it
copies, the revision's recomputed hash, its sources' verdicts and the chain's last verification.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import select

from reviewflow.articles.models import Article, Revision, content_hash
from reviewflow.articles.services import get_revision
from reviewflow.audit import services as audit
from reviewflow.audit.models import AuditVerification
from reviewflow.extensions import db
from reviewflow.publishing.models import PublishedReview, PublishedVersion
from reviewflow.publishing.services import get_version
from reviewflow.reviews.models import Decision
from reviewflow.sources import services as sources


@dataclass
class CertificateLine:
    """One reviewer's sign-off behind a published version, with the signed decision it copies."""

    review: PublishedReview
    decision: Decision

    @property
    def checklist(self) -> list[str]:
        return checklist_of(self.review)


@dataclass
class Certificate:
    """What a review certificate prints: the version, the revision text's recomputed hash, each
    sign-off joined to its signed decision, and the chain's last verification."""

    article: Article
    version: PublishedVersion
    revision: Revision
    lines: list[CertificateLine]
    verification: AuditVerification | None
    #: Each source of the version with every verdict given on its text up to publication, oldest first.
    sources: list[tuple[dict, list]] = field(default_factory=list)

    @property
    def hash_matches(self) -> bool:
        """The stored hash equals the one recomputed from the revision's text, and every decision signed it."""
        recomputed = content_hash(self.revision.title, self.revision.body)
        return recomputed == self.version.content_hash == self.revision.content_hash and all(
            line.decision.content_hash == recomputed for line in self.lines)


def certificate(article: Article, number) -> Certificate:
    """The review certificate of published version ``number`` (NotFound for unknown versions)."""
    version = get_version(article, number)
    rev = get_revision(article, version.revision_number)
    ids = [r.decision_id for r in version.reviews]
    decisions = {d.id: d for d in db.session.scalars(select(Decision).where(Decision.id.in_(ids)))} if ids else {}
    lines = [CertificateLine(r, decisions[r.decision_id]) for r in version.reviews]
    return Certificate(article, version, rev, lines, audit.last_verification(),
                       sources.verdicts_behind(article, version.sources, version.published_at))



def checklist_of(review: PublishedReview) -> list[str]:
    """The checklist items the reviewer ticked when signing (a JSON list in the record)."""
    try:
        items = json.loads(review.checklist or "[]")
    except ValueError:
        return []
    return [i for i in items if isinstance(i, str)] if isinstance(items, list) else []
