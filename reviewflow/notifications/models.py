"""Notifications shown in the app, e-mails queued in an outbox, and each person's choice of how
notifications reach them by e-mail."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from reviewflow.extensions import UTCDateTime, db, utcnow


class EmailMode(StrEnum):
    """How a person's notifications reach them by e-mail (the in-app list always has them all)."""

    IMMEDIATELY = "immediately"
    HOURLY = "hourly"
    DAILY = "daily"
    OFF = "off"

    @property
    def title(self) -> str:
        """The choice's name on the preferences page."""
        return {"immediately": "Immediately", "hourly": "Hourly digest", "daily": "Daily digest",
                "off": "Off"}[self.value]

    @property
    def label(self) -> str:
        """What the choice means, under its name."""
        return {"immediately": "One e-mail for each notification as it happens, with its comment.",
                "hourly": "At most one e-mail an hour, grouped by article, with the comments. The default.",
                "daily": "One e-mail each morning at 08:00 in your time zone, grouped by article.",
                "off": "No e-mail about notifications; they stay in your list here."}[self.value]

    @property
    def phrase(self) -> str:
        """The choice in a sentence: "By e-mail: an hourly digest"."""
        return {"immediately": "one e-mail per notification", "hourly": "an hourly digest",
                "daily": "a daily digest at 08:00", "off": "off (in reviewflow only)"}[self.value]


#: Who has not chosen gets the hourly digest.
DEFAULT_EMAIL_MODE = EmailMode.HOURLY


class MailState(StrEnum):
    """Where a notification stands with e-mail."""

    #: Waits for the person's next digest (``flask send-digests``).
    PENDING = "pending"
    #: Went into an e-mail in the outbox: its own (``immediately``) or a digest (``digest_id``).
    QUEUED = "queued"
    #: Never e-mailed: the person chose in-app only.
    NONE = "none"


class Notification(db.Model):
    """A line in a person's notification list, and an event for their e-mail."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at", "id"),
                      Index("ix_notifications_user_id", "user_id", "id"),  # one person's, newest first
                      Index("ix_notifications_user_article", "user_id", "article_id", "id"),  # one group
                      Index("ix_notifications_mail", "mail", "user_id", "id"),  # what waits for a digest
                      CheckConstraint("mail IN ('pending', 'queued', 'none')", name="mail_known"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(String(500))
    url: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The article the event is about: the page and the digests group by it (None: about no article).
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"))
    #: The article's title when the event happened: groups and digests are headed with it.
    article_title: Mapped[str] = mapped_column(String(200), default="")
    #: What happened, for the group's counts ("2 annotations, 1 reply"): a key of ``services.KINDS``.
    kind: Mapped[str] = mapped_column(String(30), default="")
    #: The words behind the event (an annotation's or reply's comment, a request's reason), cut to
    #: ``services.DETAIL_MAX`` characters; shown under the line and quoted in the e-mail.
    detail: Mapped[str] = mapped_column(Text, default="")
    #: A ``MailState``. Rows from before digests existed were e-mailed one by one: "queued".
    mail: Mapped[str] = mapped_column(String(10), default=MailState.PENDING.value, server_default="queued")
    #: The outbox e-mail that carried this notification (its own or a digest); None while it waits.
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_emails.id"))


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


class NotificationSettings(db.Model):
    """One person's e-mail choice and when their last digest was queued. A person without a row has
    the default (``DEFAULT_EMAIL_MODE``) and has had no digest yet."""

    __tablename__ = "notification_settings"
    __table_args__ = (CheckConstraint("email_mode IN ('immediately', 'hourly', 'daily', 'off')",
                                      name="email_mode_known"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    #: An ``EmailMode``.
    email_mode: Mapped[str] = mapped_column(String(12), default=DEFAULT_EMAIL_MODE.value)
    #: When the last digest to this person was queued: the claim that keeps digests at most hourly
    #: (or daily), moved forward by a conditional UPDATE so two runs never both send one.
    last_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
