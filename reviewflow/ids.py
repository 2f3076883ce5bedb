"""Row ids from the outside world (paths, query strings, JSON bodies), checked in one place.

Every id column is an INTEGER, so anything that is not a whole number from 1 to ``MAX_ID`` can
name no row: it is answered like a missing row (404), never passed to the database, where a
too-large number would fail on PostgreSQL and a string would be compared as text on SQLite.
"""
from __future__ import annotations

from reviewflow.errors import NotFound
from reviewflow.extensions import db

#: The largest id an INTEGER column holds.
MAX_ID = 2**31 - 1


def as_id(value) -> int | None:
    """``value`` as a row id (``int(value)`` from 1 to ``MAX_ID``), or None when it cannot be one."""
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 < number <= MAX_ID else None


def get_or_404(model, value, message: str, *, options=()):
    """The ``model`` row whose primary key is ``value``; NotFound (404) with ``message`` when ``value``
    cannot be an id or no such row exists."""
    key = as_id(value)
    row = db.session.get(model, key, options=options) if key is not None else None
    if row is None:
        raise NotFound(message)
    return row
