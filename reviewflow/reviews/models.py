"""Assignments of reviewers, annotations with replies, and decisions (electronic signatures)."""
from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from reviewflow.articles.models import Article
from reviewflow.auth.models import ReviewerProfile, User
from reviewflow.extensions import UTCDateTime, db, utcnow

MEANINGS = {
    "approve": "I have medically reviewed this content and approve it as accurate.",
    "request_changes": "I have medically reviewed this content and request the changes described before approval.",
}


class AssignmentStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @property
    def css_class(self) -> str:
        return f"status-{self.value}"


#: Assignments that still wait for their reviewer: not yet approved, not withdrawn.
AssignmentStatus.OPEN = frozenset({AssignmentStatus.PENDING, AssignmentStatus.CHANGES_REQUESTED})


class ReviewAssignment(db.Model):
    """A reviewer assigned to an article. It persists across revisions until withdrawn."""

    __tablename__ = "review_assignments"
    __table_args__ = (
        UniqueConstraint("article_id", "reviewer_id"),
        CheckConstraint(f"status IN {tuple(s.value for s in AssignmentStatus)!r}", name="status_known"),
        CheckConstraint("status <> 'withdrawn' OR withdrawn_at IS NOT NULL", name="withdrawn_has_time"),
        Index("ix_review_assignments_reviewer_status", "reviewer_id", "status", "due_date"),
        #: The reminders' daily scan and the editors' list of reviews in progress, by due date.
        Index("ix_review_assignments_status_due", "status", "due_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(32), default=AssignmentStatus.PENDING.value)
    due_date: Mapped[date | None] = mapped_column(Date)
    assigned_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The latest decision this reviewer signed on this article (None until they decide). No foreign
    #: key: decisions already point at their assignment, and a cycle would complicate the schema.
    decision_id: Mapped[int | None] = mapped_column(Integer)
    #: The revision number the current status applies to.
    status_revision: Mapped[int | None] = mapped_column(Integer)
    #: When the reminder before the due date was queued (``reviews.reminders``); None until then. Each
    #: reminder is claimed by a conditional UPDATE of these columns, so it goes out once even when two
    #: runs overlap. Cleared when the reviewer is assigned again, with a new due date.
    due_reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the latest reminder of this review being overdue was queued; None until the first.
    overdue_reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: How many overdue reminders were queued (they repeat at most every ``REVIEW_OVERDUE_REPEAT_DAYS``).
    overdue_reminders: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    reviewer: Mapped[User] = relationship(foreign_keys=[reviewer_id], lazy="joined", innerjoin=True)
    article: Mapped[Article] = relationship(lazy="raise")

    @property
    def status_enum(self) -> AssignmentStatus:
        return AssignmentStatus(self.status)

    @property
    def active(self) -> bool:
        return self.status != AssignmentStatus.WITHDRAWN

    def overdue_on(self, today: date) -> bool:
        """Still open and its due date has passed (the queue's and the dashboard's "Overdue")."""
        return self.due_date is not None and self.due_date < today and self.status in AssignmentStatus.OPEN

    @property
    def audit_label(self) -> str:
        return self.reviewer.name


class Annotation(db.Model):
    """A reviewer's comment anchored to quoted text (a W3C TextQuoteSelector plus position)."""

    __tablename__ = "annotations"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'resolved')", name="status_known"),
        Index("ix_annotations_article_status", "article_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"))
    #: The revision the annotation was made on.
    revision_number: Mapped[int] = mapped_column(Integer)
    #: The latest revision the quote was found in (re-anchoring moves it forward).
    anchored_revision: Mapped[int] = mapped_column(Integer)
    quote: Mapped[str] = mapped_column(Text)
    prefix: Mapped[str] = mapped_column(String(200), default="")
    suffix: Mapped[str] = mapped_column(String(200), default="")
    #: Character offset of the quote in the anchored revision's body (TextPositionSelector).
    position: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text)
    blocking: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="open")
    #: True when the quote was not found in a later revision: listed as needing attention.
    orphaned: Mapped[bool] = mapped_column(Boolean, default=False)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    author: Mapped[User] = relationship(foreign_keys=[author_id], lazy="joined", innerjoin=True)
    resolved_by: Mapped[User | None] = relationship(foreign_keys=[resolved_by_id], lazy="joined")
    replies: Mapped[list[AnnotationReply]] = relationship(
        back_populates="annotation", order_by="AnnotationReply.id", lazy="selectin"
    )

    @property
    def audit_label(self) -> str:
        return self.quote[:80]

    @property
    def is_open(self) -> bool:
        return self.status == "open"


class AnnotationReply(db.Model):
    """One reply in an annotation's thread."""

    __tablename__ = "annotation_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    annotation_id: Mapped[int] = mapped_column(ForeignKey("annotations.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[User] = relationship(lazy="joined", innerjoin=True)
    annotation: Mapped[Annotation] = relationship(back_populates="replies", lazy="raise")


class Decision(db.Model):
    """A signed decision (21 CFR Part 11 style): immutable once written.

    Holds the printed name, the credentials of the exact profile version signed under,
    the time, the meaning, the revision and its content hash.
    """

    __tablename__ = "decisions"
    __table_args__ = (CheckConstraint("decision IN ('approve', 'request_changes')", name="decision_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), index=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("review_assignments.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    profile_id: Mapped[int] = mapped_column(ForeignKey("reviewer_profiles.id"))
    decision: Mapped[str] = mapped_column(String(32))
    revision_number: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    printed_name: Mapped[str] = mapped_column(String(120))
    credentials: Mapped[str] = mapped_column(String(120))
    specialty: Mapped[str] = mapped_column(String(120))
    license_number: Mapped[str] = mapped_column(String(64))
    license_expires: Mapped[date] = mapped_column(Date)
    meaning: Mapped[str] = mapped_column(Text)
    comment: Mapped[str] = mapped_column(Text, default="")
    #: JSON list of the checklist items ticked at signing.
    checklist: Mapped[str] = mapped_column(Text, default="[]")
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Id of the audit event that records this signature.
    audit_seq: Mapped[int | None] = mapped_column(Integer)

    profile: Mapped[ReviewerProfile] = relationship(lazy="joined", innerjoin=True)

    @property
    def signer_label(self) -> str:
        return f"{self.printed_name}, {self.credentials}" if self.credentials else self.printed_name
