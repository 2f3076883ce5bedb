"""Notifications shown in the app, and e-mails queued in an outbox."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from reviewflow.extensions import UTCDateTime, db, utcnow


class Notification(db.Model):
    """A line in a person's notification list."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at", "id"),
                      Index("ix_notifications_user_id", "user_id", "id"))  # one person's, newest first

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(String(500))
    url: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxEmail(db.Model):
    """An e-mail waiting for ``flask send-mail``; written in the same transaction as its cause."""

    __tablename__ = "outbox_emails"
    __table_args__ = (Index("ix_outbox_emails_sent", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    #: Set when ``send-mail`` gave up on this mail (``last_error`` says why); admins see it listed.
    set_aside_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: After a failed attempt, not tried again before this time (backoff); None: try at once.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
