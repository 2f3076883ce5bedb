"""One-time links sent by e-mail (invitations, password resets).

The link carries a random token (``secrets.token_urlsafe``, 256 bits); the database keeps only its
SHA-256, so a copy of the database opens no account. A link that cannot be used any more says why
on a page of its own (``UnusableLink``): unknown (404), already used (409), expired or revoked (410).
"""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from reviewflow.errors import DomainError
from reviewflow.extensions import db

#: The longest token a link may carry; anything longer is unknown without a query.
TOKEN_MAX = 100


def new_token() -> tuple[str, str]:
    """A fresh token for a link and the digest to store: ``(plain, sha256 hex)``."""
    plain = secrets.token_urlsafe(32)
    return plain, digest(plain)


def digest(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def find(model, plain):
    """The row of ``model`` (an invitation, a password reset) whose stored digest is that of the link's token
    ``plain``; None for no such row, and without a query for anything that is not a token's shape."""
    if not isinstance(plain, str) or not 0 < len(plain) <= TOKEN_MAX:
        return None
    return db.session.scalar(select(model).where(model.token_hash == digest(plain)))


class UnusableLink(DomainError):
    """A one-time link that cannot be used: ``reason`` is unknown, used, expired or revoked; ``kind`` is
    invitation or reset. The status follows the reason, so the page tells a person what to do next."""

    STATUS = {"unknown": 404, "used": 409, "expired": 410, "revoked": 410}

    def __init__(self, kind: str, reason: str, message: str) -> None:
        super().__init__(message, code="not_found" if reason == "unknown" else "invalid_state")
        self.kind, self.reason = kind, reason
        self.status = self.STATUS[reason]
