"""Verifying the audit chain (``verify``), its checkpoints, and the tables the pages read against it.

The chain is read in spans, in parallel where the database allows (``verify_parallel``), each event's
hash recomputed from the one before. A checkpoint kept outside the database (``checkpoint``) also
catches a rollback to an earlier, consistent state. Verification then compares the tables the pages
read (decisions, published versions and their bylines) with the signed events behind them.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from operator import attrgetter
from types import SimpleNamespace

from sqlalchemy import func, select, text

from reviewflow.audit import verify_parallel
from reviewflow.audit.chain import _message_sql, head_mac, keyring, link
from reviewflow.audit.models import GENESIS, AuditEvent, AuditVerification
from reviewflow.audit.records import BATCH, Problem, _records_problem
from reviewflow.extensions import db, utcnow


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


def last_verification() -> AuditVerification | None:
    return db.session.scalars(select(AuditVerification).order_by(AuditVerification.id.desc()).limit(1)).first()
