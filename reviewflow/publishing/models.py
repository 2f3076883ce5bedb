"""Published versions (immutable) and the review sign-offs behind each."""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import DDL, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from reviewflow.extensions import UTCDateTime, db, utcnow


class PublishedVersion(db.Model):
    """One version readers saw. Never changed after it is written.

    The sanitised HTML is rendered once, at publish time, and stored here.
    """

    __tablename__ = "published_versions"
    __table_args__ = (
        UniqueConstraint("article_id", "version"),
        Index("ix_published_versions_published_at", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"))
    version: Mapped[int] = mapped_column(Integer)
    revision_number: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    slug: Mapped[str] = mapped_column(String(200), index=True)
    title: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(120))
    body_html: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(String(400), default="")
    #: "publish" for an editor's publish, "rereview" for a re-review of unchanged text.
    kind: Mapped[str] = mapped_column(String(16), default="publish")
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The time of the latest signed approval behind this version.
    last_reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    publisher_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    publisher_name: Mapped[str] = mapped_column(String(200), default="")
    writer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    writer_name: Mapped[str] = mapped_column(String(120))
    change_note: Mapped[str] = mapped_column(String(500), default="")
    audit_seq: Mapped[int | None] = mapped_column(Integer)
    #: The sources readers see, as JSON: ``[{key, text, url, doi, checked_by, checked_at}]``, copied at
    #: publish time from the checks that stood on the revision.
    sources_json: Mapped[str] = mapped_column(Text, default="[]")

    reviews: Mapped[list[PublishedReview]] = relationship(
        back_populates="published_version", order_by="PublishedReview.id", lazy="selectin"
    )

    @property
    def sources(self) -> list[dict]:
        """The sources readers see, numbered by position; ``checked_at`` as an aware datetime."""
        out = json.loads(self.sources_json or "[]")
        for source in out:
            source["checked_at"] = datetime.fromisoformat(source["checked_at"]) if source.get("checked_at") else None
        return out

    @property
    def etag(self) -> str:
        return f"{self.content_hash[:32]}-v{self.version}"


class PublishedReview(db.Model):
    """A reviewer's sign-off behind a published version, copied from the signed decision."""

    __tablename__ = "published_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    published_version_id: Mapped[int] = mapped_column(ForeignKey("published_versions.id"), index=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    credentials: Mapped[str] = mapped_column(String(120))
    specialty: Mapped[str] = mapped_column(String(120))
    affiliation: Mapped[str] = mapped_column(String(200), default="")
    organization: Mapped[str] = mapped_column(String(200), default="")
    license_number: Mapped[str] = mapped_column(String(64), default="")
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    meaning: Mapped[str] = mapped_column(Text, default="")
    checklist: Mapped[str] = mapped_column(Text, default="[]")
    decision_audit_seq: Mapped[int | None] = mapped_column(Integer)

    published_version: Mapped[PublishedVersion] = relationship(back_populates="reviews", lazy="raise")


class PublicState(db.Model):
    """One row: a counter bumped in the same transaction as every change readers could see (a publish,
    an unpublish, a reviewer's public profile, the site's settings). Each process keeps finished
    public pages while the counter it last read is unchanged (``public.pagecache.TTLCache``)."""

    __tablename__ = "public_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)


event.listen(PublicState.__table__, "after_create", DDL("INSERT INTO public_state (id, generation) VALUES (1, 0)"))
