"""Appending to the audit chain: ``record`` and the chain's hashing (``encode``, ``link``, ``head_mac``).

Each event's ``hash`` is HMAC-SHA256 over the previous event's hash and a canonical encoding of the
event (``encode``), keyed with ``REVIEWFLOW_AUDIT_KEY``. The key never enters the database, so someone
with database access alone cannot recompute a valid chain after editing an event. Earlier keys stay
listed in ``REVIEWFLOW_AUDIT_OLD_KEYS`` after a rotation; each event names the key it was signed with
(``key_id``), so old events keep verifying. The chain head is keyed too (``head_mac``), so events cut
off the end cannot be hidden by rewriting the head.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

from flask import current_app, g, has_request_context
from sqlalchemy import event as sa_event
from sqlalchemy import update
from sqlalchemy.orm import Session

from reviewflow.audit.actions import AuditAction, registered
from reviewflow.audit.models import AuditEvent, AuditHead
from reviewflow.extensions import db, utcnow

SECRET_WORDS = ("password", "token", "secret")


def key_id_of(key: str) -> str:
    """A short public name of a key: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def keyring() -> tuple[str, dict[str, bytes]]:
    """The current key's id and every known key by id (current and old)."""
    current = current_app.config["AUDIT_KEY"]
    keys = {key_id_of(current): current.encode()}
    for item in (current_app.config.get("AUDIT_OLD_KEYS") or "").split(","):
        if item.strip():
            key = item.split(":", 1)[-1].strip()
            keys[key_id_of(key)] = key.encode()
    return key_id_of(current), keys


#: Unit separator between the fields of the canonical encoding. Text fields never contain it
#: (``record`` replaces it), so the encoding is unambiguous.
SEP = "\x1f"
#: The event fields in the order they are encoded.
ENCODED = ("seq", "occurred_at", "actor_id", "actor_name", "actor_role", "action", "target_type", "target_id",
           "target_label", "article_id", "revision_number", "content_hash", "before_state", "after_state",
           "details", "request_id", "key_id")


def canonical_time(dt: datetime | str) -> str:
    """A timestamp as encoded: UTC, "YYYY-MM-DD HH:MM:SS.ffffff" (SQLite stores exactly this text)."""
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def encode(row) -> bytes:
    """The canonical encoding of an event: its fields in ``ENCODED`` order, as text, joined by U+001F;
    NULL is the empty string, numbers are decimal, the time is ``canonical_time``.

    The same text is built by the database for verification (``_message_sql``), so verifying
    costs one HMAC per event in Python.
    """
    values = [getattr(row, name) for name in ENCODED]
    values[1] = canonical_time(values[1])
    return SEP.join("" if v is None else str(v) for v in values).encode()


def link(key: bytes, prev_hash: str, row) -> str:
    """The event's hash: HMAC-SHA256(key, prev_hash + "\n" + encode(row)), in hex."""
    return hmac.digest(key, prev_hash.encode() + b"\n" + encode(row), "sha256").hex()


def head_mac(key: bytes, seq: int, hash_: str) -> str:
    """The chain head's mac: HMAC-SHA256(key, "reviewflow audit head\\n<seq>\\n<hash>") in hex, under the key
    of the head's event. Without the audit key nobody can write a head that verifies, so a chain cut short
    with its head set back to the new last event is caught."""
    return hmac.digest(key, f"reviewflow audit head\n{seq}\n{hash_}".encode(), "sha256").hex()


def _message_sql(dialect: str) -> str:
    """SQL that builds what an event's hash signs, ``prev_hash + "\\n" + encode(row)``, inside the
    database (SQLite or PostgreSQL), in one function call.

    One call rather than a chain of ``coalesce`` and ``||``: the database writes the text once instead
    of copying it at each of some thirty concatenations, which was most of what verifying cost. Both
    calls read NULL as the empty string and write numbers in decimal. SQLite's ``printf`` stops at a
    NUL character, so for text holding one its message differs from ``encode``; ``_why_bad`` then
    re-encodes the event in Python before calling it edited.
    """
    sep = f"'{SEP}'"  # the newline and U+001F stand in the SQL as they are, inside string literals
    if dialect == "postgresql":
        fields = ["to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')" if name == "occurred_at"
                  else name for name in ENCODED]
        return f"concat(prev_hash, '\n', {f', {sep}, '.join(fields)})"
    return f"printf('%s\n{SEP.join(['%s'] * len(ENCODED))}', prev_hash, {', '.join(ENCODED)})"


def _scrub(details: dict) -> dict:
    """Drop anything that looks like a secret: no password or token ever enters an event."""
    return {k: v for k, v in details.items() if not any(w in k.lower() for w in SECRET_WORDS)}


def record(
    action: AuditAction | str,
    *,
    actor=None,
    role: str = "",
    target=None,
    target_type: str = "",
    target_label: str = "",
    article=None,
    revision=None,
    before: str | None = None,
    after: str | None = None,
    details: dict | None = None,
    actor_name: str | None = None,
) -> AuditEvent:
    """Append one event to the chain inside the caller's transaction; flushes, never commits.

    ``action`` is an ``AuditAction`` (or its text); ValueError for any other, before anything is
    written. ``actor`` is a User (or None for the system), ``target`` any model with an ``id``,
    ``article`` an Article and ``revision`` a Revision. Locks the chain head first, so
    concurrent appends queue up instead of forking the chain.
    """
    action = registered(action).value
    session = db.session
    session.flush()
    head = session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1)
        .returning(AuditHead.seq, AuditHead.hash)
    ).one()
    key_id, keys = keyring()
    if target is not None and not target_type:
        target_type = type(target).__tablename__.rstrip("s")
    ev = AuditEvent(
        seq=head.seq,
        occurred_at=utcnow(),
        actor_id=getattr(actor, "id", None),
        actor_name=actor_name if actor_name is not None else (getattr(actor, "display_name", "") or "system"),
        actor_role=role or ("system" if actor is None else ""),
        action=action,
        target_type=target_type,
        target_id=getattr(target, "id", None),
        target_label=(target_label or getattr(target, "audit_label", "") or "")[:300],
        article_id=getattr(article, "id", None),
        revision_number=getattr(revision, "number", None),
        content_hash=getattr(revision, "content_hash", None),
        before_state=before,
        after_state=after,
        details=json.dumps(_scrub(details or {}), sort_keys=True, separators=(",", ":"), default=str),
        request_id=(g.get("request_id", "") if has_request_context() else "cli")[:64],
        key_id=key_id,
        prev_hash=head.hash,
    )
    for name in ("actor_name", "actor_role", "action", "target_type", "target_label", "before_state", "after_state",
                 "request_id"):
        value = getattr(ev, name)
        if isinstance(value, str) and SEP in value:
            setattr(ev, name, value.replace(SEP, " "))
    ev.hash = link(keys[key_id], head.hash, ev)
    session.add(ev)
    session.execute(update(AuditHead).where(AuditHead.id == 1)
                    .values(hash=ev.hash, mac=head_mac(keys[key_id], ev.seq, ev.hash)))
    session.flush()
    return ev


@sa_event.listens_for(Session, "before_flush")
def _refuse_event_changes(session, flush_context, instances) -> None:
    """The application's own guard: an audit event loaded in a session can never be changed or deleted."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEvent) and (obj in session.deleted or session.is_modified(obj)):
            raise PermissionError("audit events are append-only")
