"""Appending to the audit chain and verifying it.

The chain: each event's ``hash`` is HMAC-SHA256 over the previous event's hash and a
canonical encoding of the event (``encode``), keyed with ``REVIEWFLOW_AUDIT_KEY``. The
key never enters the database, so someone with database access alone cannot recompute
a valid chain after editing an event. Earlier keys stay listed in
``REVIEWFLOW_AUDIT_OLD_KEYS`` after a rotation; each event names the key it was signed
with (``key_id``), so old events keep verifying.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app, g, has_request_context, request
from sqlalchemy import event as sa_event
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from reviewflow.audit.models import GENESIS, AuditEvent, AuditHead, AuditVerification
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


def _message_sql(dialect: str) -> str:
    """SQL that builds ``encode(row)`` inside the database (SQLite or PostgreSQL)."""
    parts = []
    for name in ENCODED:
        if name == "occurred_at":
            parts.append("to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
                         if dialect == "postgresql" else "occurred_at")
        elif dialect == "postgresql":
            parts.append(f"coalesce({name}::text, '')")
        else:
            parts.append(f"coalesce({name}, '')")
    sep = "chr(31)" if dialect == "postgresql" else "char(31)"
    return f" || {sep} || ".join(parts)


def _scrub(details: dict) -> dict:
    """Drop anything that looks like a secret: no password or token ever enters an event."""
    return {k: v for k, v in details.items() if not any(w in k.lower() for w in SECRET_WORDS)}


def record(
    action: str,
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

    ``actor`` is a User (or None for the system), ``target`` any model with an ``id``,
    ``article`` an Article and ``revision`` a Revision. Locks the chain head first, so
    concurrent appends queue up instead of forking the chain.
    """
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
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=ev.hash))
    session.flush()
    return ev


@sa_event.listens_for(Session, "before_flush")
def _refuse_event_changes(session, flush_context, instances) -> None:
    """The application's own guard: an audit event loaded in a session can never be changed or deleted."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEvent) and (obj in session.deleted or session.is_modified(obj)):
            raise PermissionError("audit events are append-only")


@dataclass
class VerifyResult:
    ok: bool
    count: int
    seconds: float
    first_bad_seq: int | None = None
    reason: str = ""

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else float(self.count)


#: Every stored field of an event, in a natural order (exports use it).
FIELDS = ("seq", "occurred_at", "actor_id", "actor_name", "actor_role", "action", "target_type", "target_id",
          "target_label", "article_id", "revision_number", "content_hash", "before_state", "after_state", "details",
          "request_id", "key_id", "prev_hash", "hash")


def iter_events(batch: int = 5000) -> Iterator[tuple]:
    """Every event as a raw tuple of ``FIELDS`` in chain order, streamed in keyset batches (constant memory)."""
    cols = ", ".join(FIELDS)
    last = 0
    with db.engine.connect() as conn:
        while True:
            rows = conn.execute(
                text(f"SELECT {cols} FROM audit_events WHERE seq > :last ORDER BY seq LIMIT :n"),
                {"last": last, "n": batch},
            ).all()
            if not rows:
                return
            yield from rows
            last = rows[-1][0]


def _chain_rows(batch: int = 20000) -> Iterator[tuple]:
    """(seq, key_id, prev_hash, hash, action, message) in chain order; the database builds the message.

    Read through the driver's own cursor in keyset batches: constant memory, no ORM overhead.
    """
    sql = (f"SELECT seq, key_id, prev_hash, hash, action, {_message_sql(db.engine.dialect.name)} "
           "FROM audit_events WHERE seq > {last} ORDER BY seq LIMIT {batch}")
    last = 0
    with db.engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        try:
            while True:
                cursor.execute(sql.format(last=int(last), batch=int(batch)))
                rows = cursor.fetchall()
                if not rows:
                    return
                yield from rows
                last = rows[-1][0]
        finally:
            cursor.close()


def verify(record_result: bool = True) -> VerifyResult:
    """Recompute the whole chain and name the first event that does not match, and why.

    Reasons: an event edited (its own hash no longer matches), missing (a gap in the
    sequence), reordered or inserted (its ``prev_hash`` is not its predecessor's hash),
    signed with an unknown key, or the head recorded more events than exist. Streams the
    chain in batches, so memory stays constant whatever its length.
    """
    started = time.perf_counter()
    _key_id, keys = keyring()
    digest, compare = hmac.digest, hmac.compare_digest
    prev = GENESIS
    expected = 1
    result = None
    for seq, key_id, prev_hash, stored, action, message in _chain_rows():
        if seq != expected:
            reason = (f"event {expected} is missing (next found is {seq})" if seq > expected
                      else f"event {seq} appears out of order")
            result = VerifyResult(False, expected - 1, 0, expected, reason)
            break
        key = keys.get(key_id)
        if key is None:
            result = VerifyResult(False, seq - 1, 0, seq, f"event {seq} is signed with an unknown key {key_id}")
            break
        if prev_hash != prev:
            result = VerifyResult(False, seq - 1, 0, seq,
                                  f"event {seq} does not follow event {seq - 1}: reordered or inserted")
            break
        if not compare(digest(key, (prev + "\n" + message).encode(), "sha256").hex(), stored):
            result = VerifyResult(False, seq - 1, 0, seq, f"event {seq} ({action}) was edited")
            break
        prev = stored
        expected += 1
    count = expected - 1
    if result is None:
        head = db.session.get(AuditHead, 1)
        if head is not None and head.seq > count:
            result = VerifyResult(False, count, 0, count + 1,
                                  f"event {count + 1} is missing: the head records {head.seq} events")
        elif head is not None and head.hash != prev:
            result = VerifyResult(False, count, 0, count, "the chain head does not match the last event")
        else:
            result = VerifyResult(True, count, 0)
    result.seconds = time.perf_counter() - started
    if record_result:
        db.session.add(AuditVerification(ok=result.ok, events=result.count, first_bad_seq=result.first_bad_seq,
                                         message=result.reason or f"{result.count} events verified"))
        db.session.commit()
    return result


def last_verification() -> AuditVerification | None:
    return db.session.scalars(select(AuditVerification).order_by(AuditVerification.id.desc()).limit(1)).first()


def request_id() -> str:
    return g.get("request_id", "") if has_request_context() else ""


def client_ip() -> str:
    return (request.remote_addr or "") if has_request_context() else ""
