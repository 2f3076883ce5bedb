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


def _iso(dt) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode(row) -> bytes:
    """The canonical encoding of an event: a compact JSON array of its fields in a fixed order."""
    return json.dumps(
        [
            row.seq, _iso(row.occurred_at), row.actor_id, row.actor_name, row.actor_role, row.action,
            row.target_type, row.target_id, row.target_label, row.article_id, row.revision_number,
            row.content_hash, row.before_state, row.after_state, row.details, row.request_id, row.key_id,
        ],
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode()


def link(key: bytes, prev_hash: str, row) -> str:
    return hmac.new(key, prev_hash.encode() + b"\n" + encode(row), hashlib.sha256).hexdigest()


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


class _Row:
    __slots__ = (
        "action",
        "actor_id",
        "actor_name",
        "actor_role",
        "after_state",
        "article_id",
        "before_state",
        "content_hash",
        "details",
        "hash",
        "key_id",
        "occurred_at",
        "prev_hash",
        "request_id",
        "revision_number",
        "seq",
        "target_id",
        "target_label",
        "target_type",
    )


FIELDS = _Row.__slots__


def iter_events(batch: int = 5000) -> Iterator[tuple]:
    """Every event as a raw tuple in chain order, streamed in keyset batches (constant memory)."""
    cols = ", ".join(FIELDS)
    seq_at = FIELDS.index("seq")  # FIELDS is in slot order (alphabetical), not with seq first
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
            last = rows[-1][seq_at]


def verify(record_result: bool = True) -> VerifyResult:
    """Recompute the whole chain and name the first event that does not match, and why.

    Reasons: an event edited (its own hash no longer matches), missing (a gap in the
    sequence), reordered or inserted (its ``prev_hash`` is not its predecessor's hash),
    signed with an unknown key, or the head recorded more events than exist.
    """
    started = time.perf_counter()
    _key_id, keys = keyring()
    prev = GENESIS
    expected_seq = 1
    count = 0
    result = None
    row = _Row()
    for values in iter_events():
        for name, value in zip(FIELDS, values, strict=True):
            setattr(row, name, value)
        row.occurred_at = _as_utc(row.occurred_at)
        count += 1
        if row.seq != expected_seq:
            reason = (f"event {expected_seq} is missing (next found is {row.seq})" if row.seq > expected_seq
                      else f"event {row.seq} appears out of order")
            result = VerifyResult(False, count, 0, expected_seq, reason)
            break
        key = keys.get(row.key_id)
        if key is None:
            result = VerifyResult(False, count, 0, row.seq,
                                  f"event {row.seq} is signed with an unknown key {row.key_id}")
            break
        if row.prev_hash != prev:
            result = VerifyResult(False, count, 0, row.seq,
                                  f"event {row.seq} does not follow event {row.seq - 1}: reordered or inserted")
            break
        if not hmac.compare_digest(link(key, prev, row), row.hash):
            result = VerifyResult(False, count, 0, row.seq, f"event {row.seq} ({row.action}) was edited")
            break
        prev = row.hash
        expected_seq += 1
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


def _as_utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def last_verification() -> AuditVerification | None:
    return db.session.scalars(select(AuditVerification).order_by(AuditVerification.id.desc()).limit(1)).first()


def request_id() -> str:
    return g.get("request_id", "") if has_request_context() else ""


def client_ip() -> str:
    return (request.remote_addr or "") if has_request_context() else ""
