"""Articles and their immutable, numbered, hashed revisions."""
from __future__ import annotations

import enum
import hashlib
import unicodedata
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, and_, text
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship

from reviewflow.auth.models import User
from reviewflow.extensions import UTCDateTime, db, utcnow
from reviewflow.textrules import short_hash


class ArticleState(enum.StrEnum):
    """The lifecycle states of PRODUCT.md, with their label and badge class."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    PUBLISHED = "published"
    UNPUBLISHED = "unpublished"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @property
    def css_class(self) -> str:
        return f"state-{self.value}"


#: From the first assignment to publication: reviewers act on the article (annotate, check sources,
#: sign). An open assignment (``AssignmentStatus.OPEN``) only ever stands on an article in these states.
ArticleState.UNDER_REVIEW = frozenset({ArticleState.IN_REVIEW, ArticleState.CHANGES_REQUESTED, ArticleState.APPROVED})

STATE_VALUES = tuple(s.value for s in ArticleState)


def canonical_text(title: str, body: str) -> str:
    """The canonical form that is hashed: NFC(title) + "\\n\\n" + NFC(body), body line endings as LF."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", title) + "\n\n" + unicodedata.normalize("NFC", body)


def content_hash(title: str, body: str) -> str:
    """SHA-256, in hex, of the UTF-8 bytes of ``canonical_text``: anyone can recompute it."""
    return hashlib.sha256(canonical_text(title, body).encode("utf-8")).hexdigest()


class Article(db.Model):
    """A health article. ``state`` is set only by ``articles.workflow.apply``."""

    __tablename__ = "articles"
    __table_args__ = (
        CheckConstraint(f"state IN {STATE_VALUES!r}", name="state_known"),
        CheckConstraint("current_revision >= 1", name="has_revision"),
        Index("ix_articles_writer_state", "writer_id", "state", "id"),
        Index("ix_articles_state_updated", "state", "updated_at"),
        # The article list, newest update first, paged by keyset on (updated_at, id).
        Index("ix_articles_updated", "updated_at", "id"),
        # Live articles by re-review date, for the editor's dashboard (a partial index: live ones only).
        Index("ix_articles_rereview_due_live", "rereview_due", "id", sqlite_where=text("live_version IS NOT NULL"),
              postgresql_where=text("live_version IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Made from the first title; never changes.
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    #: Title of the current revision, kept here for lists.
    title: Mapped[str] = mapped_column(String(200))
    #: The medical condition or area, matched against reviewers' specialties.
    topic: Mapped[str] = mapped_column(String(120), index=True)
    writer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(String(32), default=ArticleState.DRAFT.value)
    #: Number of the current (latest) revision.
    current_revision: Mapped[int] = mapped_column(Integer, default=1)
    #: Version number of the published version readers see now; None when not live.
    live_version: Mapped[int | None] = mapped_column(Integer)
    rereview_months: Mapped[int] = mapped_column(Integer, default=12)
    rereview_due: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    unpublished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unpublish_reason: Mapped[str | None] = mapped_column(Text)

    writer: Mapped[User] = relationship(lazy="joined", innerjoin=True)
    revision: Mapped[Revision] = relationship(
        primaryjoin=lambda: and_(
            foreign(Revision.article_id) == Article.id, Revision.number == Article.current_revision
        ),
        viewonly=True,
        uselist=False,
        lazy="joined",
    )

    @property
    def state_enum(self) -> ArticleState:
        return ArticleState(self.state)

    @property
    def audit_label(self) -> str:
        return self.title


class Revision(db.Model):
    """One saved text of an article: immutable once written."""

    __tablename__ = "revisions"
    __table_args__ = (UniqueConstraint("article_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    #: See ``content_hash``.
    content_hash: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(500), default="")
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    #: "unnested": an inner join when revisions are queried directly, but a flat LEFT OUTER JOIN when a
    #: revision is eager-loaded under ``Article.revision``. A nested "LEFT JOIN (revisions JOIN users)"
    #: makes SQLite materialise the whole revisions table on every article load (found by the benchmark).
    author: Mapped[User] = relationship(lazy="joined", innerjoin="unnested")

    @property
    def short_hash(self) -> str:
        return short_hash(self.content_hash)
