"""The finished public pages shared by every process, and when each part of the public site last changed.

Both tables are derived data: built from the published record, emptied and refilled at will, never
backed up (``reviewflow.backup``). See ``public.pagecache`` for how they are written and read.
"""
from __future__ import annotations

from sqlalchemy import Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from reviewflow.extensions import db


class FinishedPage(db.Model):
    """One public response as every anonymous reader gets it: status, headers and body (for an article
    page, the body with its "more articles" aside left out, ``public.aside``). ``scope`` is what it shows
    (an article's id, or ``pagecache.LISTS``); ``generation`` the public counter read before it was built;
    ``build`` the code and settings that built it: a row of another build is never served."""

    __tablename__ = "finished_pages"
    __table_args__ = (Index("ix_finished_pages_scope", "scope"),)

    key: Mapped[str] = mapped_column(String(600), primary_key=True)
    scope: Mapped[int] = mapped_column(Integer)
    generation: Mapped[int] = mapped_column(Integer)
    build: Mapped[str] = mapped_column(String(32))
    status: Mapped[int] = mapped_column(Integer)
    meta: Mapped[str] = mapped_column(Text)
    body: Mapped[bytes] = mapped_column(LargeBinary)


class PageStamp(db.Model):
    """The public counter's value when a part of the public site last changed: an article (its id),
    the lists (``pagecache.LISTS``) or everything (``pagecache.SITE``)."""

    __tablename__ = "page_stamps"
    __table_args__ = (Index("ix_page_stamps_generation", "generation"),)

    scope: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(Integer)
