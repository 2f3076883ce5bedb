"""Appending to the audit chain and verifying it.

The chain: each event's ``hash`` is HMAC-SHA256 over the previous event's hash and a
canonical encoding of the event (``encode``), keyed with ``REVIEWFLOW_AUDIT_KEY``. The
key never enters the database, so someone with database access alone cannot recompute
a valid chain after editing an event. Earlier keys stay listed in
``REVIEWFLOW_AUDIT_OLD_KEYS`` after a rotation; each event names the key it was signed
with (``key_id``), so old events keep verifying.

The chain head is keyed too (``head_mac``), so events cut off the end cannot be hidden by
rewriting the head; a checkpoint kept outside the database (``checkpoint``) also catches a
rollback to an earlier, consistent state. Verification then compares the tables the pages
read (decisions, published versions and their bylines) with the signed events behind them.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from operator import attrgetter
from types import SimpleNamespace

from flask import current_app, g, has_request_context
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from reviewflow.audit import verify_parallel
from reviewflow.audit.actions import AuditAction, registered
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


@dataclass
class VerifyResult:
    ok: bool
    count: int
    seconds: float
    first_bad_seq: int | None = None
    reason: str = ""
    #: The hash of the last event verified (``count``): what a checkpoint records.
    last_hash: str = GENESIS

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else float(self.count)


#: Every stored field of an event, in a natural order (exports use it).
FIELDS = ("seq", "occurred_at", "actor_id", "actor_name", "actor_role", "action", "target_type", "target_id",
          "target_label", "article_id", "revision_number", "content_hash", "before_state", "after_state", "details",
          "request_id", "key_id", "prev_hash", "hash")


#: Rows the database sends at a time while verifying: a few MiB, however long the chain.
BATCH = 5_000


@contextmanager
def _chain_rows(conn, start: int | None, stop: int | None) -> Iterator[Iterator[tuple]]:
    """(seq, key_id, hash, message) in chain order for the events numbered ``start`` to
    ``stop`` (None: no bound, so even an event numbered 0 or below is read); the database builds
    each message.

    One statement, read through the driver's own cursor (no ORM) and streamed, so memory stays
    constant: SQLite steps through its result (one snapshot in WAL mode, without blocking writers);
    PostgreSQL sends rows in chunks as it produces them, so the database builds the next rows while
    Python checks these (with a named cursor the two would take turns).
    """
    dialect = conn.dialect.name
    bounds = [f"seq {op} {int(value)}" for op, value in ((">=", start), ("<=", stop)) if value is not None]
    where = f"WHERE {' AND '.join(bounds)} " if bounds else ""
    sql = f"SELECT seq, key_id, hash, {_message_sql(dialect)} FROM audit_events {where}ORDER BY seq"
    cursor = conn.connection.driver_connection.cursor()
    try:
        if dialect == "postgresql":  # psycopg 3; chunks need libpq 17, else one row at a time
            chunked = conn.dialect.loaded_dbapi.capabilities.has_stream_chunked()
            rows = cursor.stream(sql, size=BATCH if chunked else 1)
            try:
                yield rows
            finally:
                rows.close()  # stops the query if the range ended early
        else:
            yield cursor.execute(sql)
    finally:
        cursor.close()


def _hmac_pads(key: bytes) -> tuple:
    """HMAC-SHA256 (RFC 2104) with ``key``, prepared: the SHA-256 states after the key's inner and outer
    padded blocks. Each event then costs two state copies, half the time of ``hmac.new(key).copy()``
    (an OpenSSL 3 HMAC context is slow to copy); the result is the same as ``hmac.digest``'s."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return hashlib.sha256(bytes(b ^ 0x36 for b in key)), hashlib.sha256(bytes(b ^ 0x5C for b in key))


@dataclass
class _SpanAnswer:
    """What checking one range of the chain found.

    ``failure`` when an event in it is bad; otherwise ``next_seq`` (the first sequence number it did not
    check) and ``last_hash`` (the stored hash of the last event it did); ``ended`` when the table ran
    out of events inside the range, so the chain ends there.
    """

    next_seq: int
    last_hash: str
    ended: bool = False
    failure: VerifyResult | None = None

    @property
    def decisive(self) -> bool:
        """Whether later ranges no longer matter: the chain is broken or ends here."""
        return self.ended or self.failure is not None


def _bad(seq: int, reason: str) -> _SpanAnswer:
    return _SpanAnswer(seq, GENESIS, failure=VerifyResult(False, seq - 1, 0, seq, reason))


def _check_span(engine, keys: dict[str, bytes], span: verify_parallel.Span) -> _SpanAnswer:
    """Check events ``first``..``last`` of ``span`` (to the end of the table when ``last`` is None) exactly
    as one pass from the start of the chain would on reaching ``first``: each event's sequence number,
    key, link to the event before it, and HMAC, stopping at the first bad one.

    A range after the first starts from the stored hash of event ``first - 1``, read with it. Should that
    event be missing or bad, the range before fails on it, so this range's answer is never the one
    reported. Runs in a worker process or in the caller's.
    """
    first, last = span
    pads = {key_id: _hmac_pads(key) for key_id, key in keys.items()}
    prev, expected = GENESIS, first
    with engine.connect() as conn:
        with _chain_rows(conn, first - 1 if first > 1 else None, last) as rows:
            if first > 1:  # the event before the range: its stored hash is where the range starts
                boundary = next(rows, None)
                if boundary is None or boundary[0] != first - 1:
                    return _bad(first - 1, f"event {first - 1} is missing")
                prev = boundary[2]
            for seq, key_id, stored, message in rows:  # message: prev_hash + "\n" + encode(row)
                if seq != expected:
                    return _bad(expected, f"event {expected} is missing (next found is {seq})" if seq > expected
                                else f"event {seq} appears out of order")
                pad = pads.get(key_id)
                if pad is None:
                    return _bad(seq, f"event {seq} is signed with an unknown key {key_id}")
                if not message.startswith(prev):
                    return _bad(seq, f"event {seq} does not follow event {seq - 1}: reordered or inserted")
                inner, outer = pad[0].copy(), pad[1].copy()
                inner.update(message.encode())
                outer.update(inner.digest())
                if outer.hexdigest() != stored:  # hashes are no secret: a plain comparison will do
                    reason = _why_bad(engine, keys[key_id], prev, seq)
                    if reason:
                        return _bad(seq, reason)
                prev = stored
                expected += 1
        if last is not None and expected > last:
            return _SpanAnswer(expected, prev)
        # The table ran out inside the range: the chain ends here, or goes on after a gap.
        after = None if last is None else conn.scalar(text("SELECT min(seq) FROM audit_events WHERE seq > :last"),
                                                       {"last": last})
    if after is None:
        return _SpanAnswer(expected, prev, ended=True)
    return _bad(expected, f"event {expected} is missing (next found is {after})")


def _why_bad(engine, key: bytes, prev: str, seq: int) -> str | None:
    """Why event ``seq``, whose message built in SQL did not verify, is bad: worked out from its stored
    fields with ``encode``, the function that signed it. None when it holds after all (SQLite's
    ``printf`` stops at a NUL character, so an event with one in its text never matches the fast path).

    The fast path checks the link with ``message.startswith(prev)``; a ``prev_hash`` that merely starts
    with the right hash fails the HMAC instead, and is told apart here. On a connection of its own, as
    the range's is busy streaming.
    """
    with engine.connect() as conn:
        row = conn.execute(text(f"SELECT {', '.join(FIELDS)} FROM audit_events WHERE seq = :seq"), {"seq": seq}).one()
    event = SimpleNamespace(**row._asdict())
    if event.prev_hash != prev:
        return f"event {seq} does not follow event {seq - 1}: reordered or inserted"
    if not hmac.compare_digest(link(key, prev, event), event.hash):
        return f"event {seq} ({event.action}) was edited"
    return None


def verify(record_result: bool = True, parallel: bool = True, checkpoints: Iterable[str] = ()) -> VerifyResult:
    """Recompute the whole chain and name the first event that does not match, and why.

    Reasons: an event edited (its own hash no longer matches), missing (a gap in the
    sequence), reordered or inserted (its ``prev_hash`` is not its predecessor's hash),
    signed with an unknown key; then the head not naming the last event or not carrying its
    mac (``_head_problem``), a ``checkpoint`` line the chain no longer holds, and a table the
    pages read that no longer matches its signed event (``_records_problem``). A long chain is
    cut into ranges checked on every core (``verify_parallel``), the earliest failure winning;
    each range is streamed in batches, so memory stays constant whatever the chain's length.
    ``parallel=False`` checks in this process only (a web request does not fork its worker).
    """
    started = time.perf_counter()
    _key_id, keys = keyring()
    engine = db.engine
    head = _read_head(engine)  # before the events, so every event it counts is committed and read below
    ranges = verify_parallel.spans(db.session.scalar(select(func.max(AuditEvent.seq))) or 0)
    check = partial(_check_span, engine, keys)
    if parallel and len(ranges) > 1 and verify_parallel.can_fork(engine):  # the tables read while workers check
        answer, records = verify_parallel.first_decisive(engine, check, ranges, verify_parallel.worker_count(),
                                                         decisive=attrgetter("decisive"),
                                                         meanwhile=partial(_records_problem, engine))
    else:
        answer = check((1, None))
        records = _records_problem(engine)
    result = answer.failure
    count, prev = answer.next_seq - 1, answer.last_hash
    if result is None:
        problem = _head_problem(engine, keys, head, count, prev)
        for line in checkpoints:
            problem = problem or _checkpoint_problem(engine, keys, line, count, prev)
        problem = problem or records
        result = VerifyResult(False, count, 0, *problem) if problem else VerifyResult(True, count, 0, last_hash=prev)
    result.seconds = time.perf_counter() - started
    if record_result:
        db.session.add(AuditVerification(ok=result.ok, events=result.count, first_bad_seq=result.first_bad_seq,
                                         message=result.reason or f"{result.count} events verified"))
        db.session.commit()
    return result


#: What a check found wrong: the event to name (None when there is none) and the reason.
Problem = tuple[int | None, str]


def _read_head(engine):
    """The chain head (seq, hash, mac) as committed now, on a connection and so a snapshot of its own."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT seq, hash, mac FROM audit_head WHERE id = 1")).first()


def _stored_event(engine, seq: int):
    """(hash, key_id) of event ``seq`` as stored, or None."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT hash, key_id FROM audit_events WHERE seq = :seq"), {"seq": seq}).first()


def _head_problem(engine, keys: dict[str, bytes], before, count: int, last_hash: str) -> Problem | None:
    """The head must name the chain's last event (``count``, ``last_hash``) and carry that event's mac.

    An append moves the head in the event's own transaction, so the head read before the events
    (``before``) names an event of the chain, and the head read now is not behind its last event.
    When events were appended while verifying, the head is past the last event read, and the
    head read before is the one checked. A chain shorter than its head lost events from its end;
    a head with the right numbers but no valid mac was rewritten without the key to hide that.
    Only a checkpoint kept elsewhere catches a head set back together with its events.
    """
    now = _read_head(engine)
    problem = _head_at(engine, keys, before, count, last_hash)
    if problem is None and now != before and (now is None or now.seq <= count):
        problem = _head_at(engine, keys, now, count, last_hash)
    if problem is None and now is not None and now.seq < count:
        problem = (count, f"the chain head does not match the last event: the head records {now.seq} events "
                          f"but the chain holds {count}, so the head was set back")
    return problem


def _head_at(engine, keys: dict[str, bytes], head, count: int, last_hash: str) -> Problem | None:
    """``head`` must name an event of the chain, with its hash, and carry its mac ("" for the empty chain)."""
    if head is None:
        return count + 1, "the chain head is missing"
    if head.seq > count:
        return count + 1, (f"the chain head does not match the last event: the head records {head.seq} events but "
                           f"the chain ends at event {count}, so events were removed from the end")
    stored = _stored_event(engine, head.seq) if head.seq > 0 else None
    if head.hash != (stored.hash if stored else GENESIS):
        return head.seq, ("the chain head does not match the last event" if head.seq == count
                          else f"the chain head does not match event {head.seq}")
    expected = head_mac(keys[stored.key_id], head.seq, head.hash) if stored else ""
    if not hmac.compare_digest(head.mac, expected):
        return head.seq, ("the chain head's mac does not verify with the audit key: the head was rewritten "
                          "without the key, so events may have been removed from the end")
    return None


# Checkpoints -----------------------------------------------------------------------------------------

def _checkpoint_mac(key: bytes, seq: int, hash_: str, taken_at: str) -> str:
    return hmac.digest(key, f"reviewflow audit checkpoint\n{seq}\n{hash_}\n{taken_at}".encode(), "sha256").hex()


def checkpoint(result: VerifyResult) -> str:
    """A keyed checkpoint of the chain as ``result`` verified it: one line of JSON naming its last event's
    number and hash, the time and the key, with an HMAC over them. Kept outside the database, it lets
    ``verify`` catch a database set back to an earlier state, head and all. Raises ValueError for a
    chain that did not verify: a checkpoint vouches only for a chain that held."""
    if not result.ok:
        raise ValueError("only a chain that verified can be checkpointed")
    key_id, keys = keyring()
    cp = {"seq": result.count, "hash": result.last_hash, "key_id": key_id, "taken_at": utcnow().isoformat()}
    cp["mac"] = _checkpoint_mac(keys[key_id], cp["seq"], cp["hash"], cp["taken_at"])
    return json.dumps(cp, sort_keys=True, separators=(",", ":"))


def _checkpoint_problem(engine, keys: dict[str, bytes], line: str, count: int, last_hash: str) -> Problem | None:
    """The checkpoint ``line`` must be one ``checkpoint`` wrote (its mac holds under a known key), and the
    chain must still hold its event with its hash: not cut back below it, not rewritten since."""
    try:
        cp = json.loads(line)
        seq, hash_, key_id, taken_at, mac = (cp[k] for k in ("seq", "hash", "key_id", "taken_at", "mac"))
        if not (type(seq) is int and all(isinstance(v, str) for v in (hash_, key_id, taken_at, mac))):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return None, "the checkpoint cannot be read: it is not a line written by audit checkpoint"
    if key_id not in keys:
        return None, f"the checkpoint is signed with an unknown key {key_id}"
    if not hmac.compare_digest(mac, _checkpoint_mac(keys[key_id], seq, hash_, taken_at)):
        return None, "the checkpoint's mac does not verify with the audit key: the checkpoint was altered"
    if seq > count:
        return count + 1, (f"the chain ends at event {count}, before event {seq} of the checkpoint taken {taken_at}: "
                           "events were removed or the database was set back to an earlier state")
    stored = last_hash if seq == count else (_stored_event(engine, seq).hash if seq > 0 else GENESIS)
    if stored != hash_:
        return seq, f"event {seq} is not the one the checkpoint taken {taken_at} recorded: the chain was rewritten"
    return None


# The tables the pages read, against the chain ---------------------------------------------------------

#: decisions column -> the key of its decision.signed event's details that states it.
DECISION_FIELDS = {"decision": "decision", "reviewer_id": "reviewer_id",
                   "printed_name": "signer", "credentials": "credentials", "specialty": "specialty",
                   "license_number": "license_number", "license_expires": "license_expires", "signed_at": "signed_at",
                   "revision_number": "revision", "content_hash": "content_hash", "meaning": "meaning",
                   "checklist": "checklist"}
#: published_versions column -> the key of its article.published or article.rereviewed event's details.
VERSION_FIELDS = {"version": "version", "revision_number": "revision", "content_hash": "content_hash",
                  "published_at": "published_at", "publisher_id": "publisher_id", "publisher_name": "publisher"}
#: published_reviews column -> the key of its entry (found by ``decision_id``) in that event's ``reviewed_by``.
REVIEW_FIELDS = {"reviewer_id": "reviewer_id", "name": "name", "credentials": "credentials", "specialty": "specialty",
                 "reviewed_at": "reviewed_at"}
#: Keys that events written before bylines were signed lack entirely; those events are not compared.
DECISION_KEYS_ADDED = ("decision_id", "reviewer_id", "signed_at", "content_hash", "revision")
VERSION_KEYS_ADDED = ("revision", "content_hash", "published_at", "publisher_id", "publisher")
PUBLICATION_ACTIONS = (AuditAction.ARTICLE_PUBLISHED, AuditAction.ARTICLE_REREVIEWED)


def _records_problem(engine) -> Problem | None:
    """Every decision, published version and published review must match the signed event behind it.

    Two streamed queries, each row joined to its event by sequence number, so the cost grows with
    the rows and not with the chain. A row with no event of the right kind behind it is a mismatch;
    an event written before bylines were signed (``*_KEYS_ADDED`` all absent) is not compared.
    """
    with engine.connect() as conn:
        return _decisions_problem(conn) or _publications_problem(conn)


def _details(raw: str | None) -> dict:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _same(found, stated) -> bool:
    """Whether a table's value is what the event states: times as the same instant (the event writes
    ``isoformat``), dates as YYYY-MM-DD, a JSON list column as the list."""
    if isinstance(found, datetime):
        try:
            return isinstance(stated, str) and datetime.fromisoformat(stated) == found
        except ValueError:
            return False
    if isinstance(found, date):
        return stated == found.isoformat()
    if isinstance(stated, list) and isinstance(found, str):
        try:
            return json.loads(found) == stated
        except ValueError:
            return False
    return found == stated


def _shown(value) -> str:
    return value.isoformat() if isinstance(value, date) else json.dumps(value, ensure_ascii=False, default=str)


def _compare(table: str, row_id: int, seq: int, found: Mapping, stated: dict, fields: dict) -> Problem | None:
    """The first column of ``found`` (a ``table`` row) that is not what event ``seq`` states in ``stated``."""
    for column, key in fields.items():
        if key not in stated:
            return seq, f"{table} row {row_id}: its signed event {seq} does not state {key}"
        if not _same(found[column], stated[key]):
            return seq, (f"{table} row {row_id} does not match its signed event {seq}: {column} is "
                         f"{_shown(found[column])}, the chain says {_shown(stated[key])}")
    return None


def _decisions_problem(conn) -> Problem | None:
    """Each decision against its decision.signed event (``audit_seq``), in id order."""
    d, e = db.metadata.tables["decisions"], AuditEvent.__table__
    stmt = (select(d.c.id, d.c.audit_seq, *(d.c[name] for name in DECISION_FIELDS), e.c.action, e.c.target_type,
                   e.c.target_id, e.c.details)
            .select_from(d.outerjoin(e, e.c.seq == d.c.audit_seq)).order_by(d.c.id))
    for row in conn.execution_options(yield_per=BATCH).execute(stmt):
        if (row.action, row.target_type, row.target_id) != (AuditAction.DECISION_SIGNED, "decision", row.id):
            return row.audit_seq, (f"decisions row {row.id} has no signed event behind it: its event "
                                   + (f"{row.audit_seq} is {row.action or 'missing'}, not the signature of decision "
                                      f"{row.id}" if row.audit_seq else "is not recorded"))
        details = _details(row.details)
        if any(key in details for key in DECISION_KEYS_ADDED):
            problem = _compare("decisions", row.id, row.audit_seq, row._mapping, details, DECISION_FIELDS)
            if problem:
                return problem
    return None


def _publications_problem(conn) -> Problem | None:
    """Each published version against its publication event (``audit_seq``), with its reviews; in id order."""
    v, r = db.metadata.tables["published_versions"], db.metadata.tables["published_reviews"]
    e, s = AuditEvent.__table__.alias("publication"), AuditEvent.__table__.alias("signature")
    stmt = (select(v.c.id, v.c.article_id, v.c.audit_seq, v.c.last_reviewed_at, *(v.c[c] for c in VERSION_FIELDS),
                   e.c.action, e.c.article_id.label("event_article_id"), e.c.details, r.c.id.label("review_id"),
                   r.c.decision_id.label("review_decision_id"), r.c.decision_audit_seq,
                   *(r.c[c].label(f"review_{c}") for c in REVIEW_FIELDS),
                   s.c.action.label("signature_action"), s.c.target_id.label("signature_target_id"))
            .select_from(v.outerjoin(e, e.c.seq == v.c.audit_seq).outerjoin(r, r.c.published_version_id == v.c.id)
                         .outerjoin(s, s.c.seq == r.c.decision_audit_seq))
            .order_by(v.c.id, r.c.id))
    rows = conn.execution_options(yield_per=BATCH).execute(stmt)
    for _id, group in itertools.groupby(rows, key=attrgetter("id")):
        version, *more = group
        problem = _publication_problem(version, [row for row in (version, *more) if row.review_id is not None])
        if problem:
            return problem
    return None


def _publication_problem(v, reviews: list) -> Problem | None:
    """One published version (``v``) and its reviews against the publication event and the signatures they cite."""
    if v.action not in PUBLICATION_ACTIONS or v.event_article_id != v.article_id:
        return v.audit_seq, (f"published_versions row {v.id} has no publication event behind it: its event "
                             + (f"{v.audit_seq} is {v.action or 'missing'}, not the publication of article "
                                f"{v.article_id}" if v.audit_seq else "is not recorded"))
    for rv in reviews:  # the signature the certificate cites
        if (rv.signature_action, rv.signature_target_id) != (AuditAction.DECISION_SIGNED, rv.review_decision_id):
            return rv.decision_audit_seq, (f"published_reviews row {rv.review_id} has no signed event behind it: its "
                                           + (f"event {rv.decision_audit_seq} is not the signature of decision "
                                              f"{rv.review_decision_id}" if rv.decision_audit_seq else
                                              "event is not recorded"))
    details = _details(v.details)
    if not any(key in details for key in VERSION_KEYS_ADDED):
        return None
    problem = _compare("published_versions", v.id, v.audit_seq, v._mapping, details, VERSION_FIELDS)
    entries = details.get("reviewed_by")
    if problem or not isinstance(entries, list) or not all(isinstance(x, dict) for x in entries):
        return problem or (v.audit_seq, f"published_versions row {v.id}: its signed event {v.audit_seq} does not "
                                        "state who reviewed it")
    shown, stated = [rv.review_decision_id for rv in reviews], [x.get("decision_id") for x in entries]
    if Counter(shown) != Counter(stated):
        return v.audit_seq, (f"published_versions row {v.id} does not match its signed event {v.audit_seq}: it shows "
                             f"the reviews of decisions {_shown(sorted(shown))}, the chain says "
                             f"{_shown(sorted(stated, key=str))}")
    by_decision = {x.get("decision_id"): x for x in entries}
    for rv in reviews:
        found = {c: rv._mapping[f"review_{c}"] for c in REVIEW_FIELDS}
        problem = _compare("published_reviews", rv.review_id, v.audit_seq, found, by_decision[rv.review_decision_id],
                           REVIEW_FIELDS)
        if problem:
            return problem
    latest = max((rv.review_reviewed_at for rv in reviews), default=None)  # each just matched the chain
    if latest is not None and v.last_reviewed_at != latest:
        return v.audit_seq, (f"published_versions row {v.id} does not match its signed event {v.audit_seq}: "
                             f"last_reviewed_at is {_shown(v.last_reviewed_at)}, the chain's latest review is "
                             f"{_shown(latest)}")
    return None


def last_verification() -> AuditVerification | None:
    return db.session.scalars(select(AuditVerification).order_by(AuditVerification.id.desc()).limit(1)).first()
