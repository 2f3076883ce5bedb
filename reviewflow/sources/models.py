"""The sources a revision cites, and the checks reviewers make of them."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from reviewflow.extensions import UTCDateTime, db, utcnow


class Verdict(enum.StrEnum):
    """What a reviewer found when reading a source, with its label for pages."""

    SUPPORTS = "supports"
    DOES_NOT_SUPPORT = "does_not_support"
    OUTDATED = "outdated"
    INACCESSIBLE = "inaccessible"

    @property
    def label(self) -> str:
        return {"supports": "Supports the text", "does_not_support": "Does not support the text",
                "outdated": "Outdated", "inaccessible": "Could not be read"}[self.value]


VERDICT_VALUES = tuple(v.value for v in Verdict)


class RevisionSource(db.Model):
    """One cited footnote of a revision, in order of first citation. Immutable like its revision."""

    __tablename__ = "revision_sources"
    __table_args__ = (UniqueConstraint("revision_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"), index=True)
    #: 1, 2, 3… in order of first citation: the number readers see.
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(2000))
    doi: Mapped[str | None] = mapped_column(String(200))
    #: SHA-256 of the footnote's normalised text: a verdict follows the source while this is unchanged.
    text_hash: Mapped[str] = mapped_column(String(64))


class SourceCheck(db.Model):
    """A verdict on a source, given on a revision; it stands for every later revision whose footnote
    under the same key has the same text. Append-only: a changed verdict is a new check."""

    __tablename__ = "source_checks"
    __table_args__ = (
        CheckConstraint(f"verdict IN {VERDICT_VALUES!r}", name="verdict_known"),
        Index("ix_source_checks_article_key", "article_id", "key", "text_hash", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"))
    revision_number: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(100))
    text_hash: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text, default="")
    checker_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    checker_name: Mapped[str] = mapped_column(String(120))
    #: "check" during a review; "flag" when a live article's source is flagged as outdated.
    kind: Mapped[str] = mapped_column(String(16), default="check")
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    audit_seq: Mapped[int | None] = mapped_column(Integer)

    @property
    def verdict_enum(self) -> Verdict:
        return Verdict(self.verdict)
