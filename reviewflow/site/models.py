"""Site settings an admin edits (stored, audited): one row per setting."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from reviewflow.extensions import UTCDateTime, db, utcnow


class SiteSetting(db.Model):
    """A named setting of the public site, such as "editorial_policy" or "disclaimer" (Markdown or text)."""

    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
