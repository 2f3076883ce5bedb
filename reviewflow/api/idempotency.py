"""Safe retries: a POST sent again with the same ``Idempotency-Key`` gets the first answer again.

A client that timed out cannot know whether its POST was done. Sent with an ``Idempotency-Key``
header (1 to 200 printable ASCII characters, of the client's choosing, such as a UUID), the same
request may be sent again: within 24 hours the same caller with the same key, method, path and body
(compared by the SHA-256 of its raw bytes) gets the stored first answer, same status and same JSON,
byte for byte, with ``Idempotent-Replayed: true``, and nothing is done again: no second article,
no second signature, no audit event.

The rules, and why:

- **Per caller.** Keys are stored per user (the token's holder); another caller's key of the same
  spelling is unrelated.
- **Another request under a used key is refused**, 422 ``invalid_input``, whatever the endpoint would
  have answered: a different body, method or path under the same key is a client bug, and guessing
  which of the two the client meant could do the wrong thing.
- **What is stored: every answer that changed something.** That is every 2xx answer, and the refusals
  that keep what they recorded (``DomainError.keep_changes``: a wrong signing password stays on
  record as ``signature.failed``), so a retried wrong password counts once towards the lock-out.
  Every other refusal (400, 403, 404, 409, 429, 503…) and every crash rolls the whole transaction
  back, key included: nothing was done, so a retry is simply answered afresh, and may succeed if
  what stood in the way has changed (another reviewer resolved the blocking annotation).
- **One transaction.** The key's row is inserted before the endpoint runs (flushed, not committed)
  and filled in with the answer after it; both commit with the endpoint's work, in the operation's
  one commit. A crash leaves neither the change nor the key, so the retry does the work once.
- **Two requests with the same key at once** cannot both do the work: the second one's insert of
  the key's row waits on the unique (user, key) index until the first commits or rolls back
  (PostgreSQL's index lock; SQLite's single writer). If the first committed, the second rolls back
  and answers the stored answer (or 422 for another request); if it rolled back, the second does
  the work. Should the row be gone by the time the second looks again, it answers 409
  ``invalid_state``, "retry", and changes nothing.
- **24 hours.** Older keys are ignored: the same key then starts afresh. A caller's expired keys
  are deleted whenever that caller sends a new key, and ``purge_expired`` deletes everyone's
  (``flask purge-idempotency-keys``, ``purge_command``, for cron).

The header applies to every operation that is not a GET (the POSTs, and the DELETE that withdraws
a reviewer); a GET changes nothing and ignores it.
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta

import click
from flask import Response, request
from flask.cli import with_appcontext
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from reviewflow.api.models import IdempotencyKey
from reviewflow.errors import Conflict, DomainError, InvalidInput, bearer_challenge, json_error
from reviewflow.extensions import db, utcnow

HEADER = "Idempotency-Key"
#: How long a key holds its answer.
TTL = timedelta(hours=24)
#: 1 to 200 printable ASCII characters (space to tilde).
_VALID = re.compile(r"[\x20-\x7e]{1,200}")
#: The status of a row whose request is being answered: rolled back or filled in, never committed.
_ANSWERING = 0
#: The OpenAPI header parameter of every operation that accepts the header.
PARAMETER = {
    "name": HEADER, "in": "header", "required": False,
    "description": "Makes a retry safe: the same request sent again with the same key within 24 hours gets "
                   "the first answer again (with `Idempotent-Replayed: true`) and changes nothing. Another "
                   "request with a used key is refused with 422.",
    # No space first or last: HTTP drops white space around a header's value, so such a key never arrives whole.
    "schema": {"type": "string", "minLength": 1, "maxLength": 200,
               "pattern": "^[\\x21-\\x7E]([\\x20-\\x7E]*[\\x21-\\x7E])?$"},
}
#: The OpenAPI header of a replayed answer.
REPLAYED = {"description": "`true` when this is the stored answer to an earlier request with the same "
                           "Idempotency-Key", "schema": {"type": "string", "enum": ["true"]}}
#: The responses this adds to such an operation, described.
RESPONSES = {
    409: "a request with the same Idempotency-Key is being answered at this moment: retry (nothing was done)",
    422: "This Idempotency-Key was used for another request (another body, method or path)",
}


class KeyReused(DomainError):
    """The key was used, within 24 hours, for a request with another body, method or path (422)."""

    status, code = 422, "invalid_input"


def read_key() -> str | None:
    """The request's ``Idempotency-Key``; None when it has none.

    Raises InvalidInput (400) when the header is empty, longer than 200 characters or holds
    anything but printable ASCII.
    """
    if HEADER not in request.headers:
        return None
    key = request.headers.get(HEADER, "")
    if not _VALID.fullmatch(key):
        raise InvalidInput(f"{HEADER} must be 1 to 200 printable ASCII characters.", field=HEADER)
    return key


def _fingerprint() -> tuple[str, str, str]:
    return request.method, request.path, hashlib.sha256(request.get_data(cache=True)).hexdigest()


def _live(user_id: int, key: str, now: datetime) -> IdempotencyKey | None:
    return db.session.scalar(select(IdempotencyKey).where(
        IdempotencyKey.user_id == user_id, IdempotencyKey.key == key, IdempotencyKey.created_at > now - TTL))


def _answer(row: IdempotencyKey) -> Response:
    """The stored answer when ``row`` was made by this same request; raises KeyReused otherwise."""
    if (row.method, row.path, row.body_hash) != _fingerprint():
        raise KeyReused(f"This {HEADER} was already used for another request (another body, method or "
                        f"path) in the last 24 hours. Use a new key for a new request.", field=HEADER)
    response = Response(row.response_body, status=row.status, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    if row.status == 401:  # a stored bad_password: a 401 carries its challenge, replayed or not
        response.headers["WWW-Authenticate"] = bearer_challenge("bad_password")
    return response


def begin(user, key: str) -> Response | IdempotencyKey:
    """Start answering a request that carries ``key``: the stored answer to replay, or the key's new row.

    A live row (under 24 hours old) of this caller and key gives its stored answer, or raises
    KeyReused for another request. Otherwise the caller's expired keys are deleted and a row for
    this request is inserted and flushed, but not committed: ``finish`` fills in the answer and the
    operation's commit keeps both. When another request with the key got there first, that
    request's answer (or KeyReused) follows once it has committed; Conflict (409) when the row it
    waited for is gone.
    """
    now = utcnow()
    row = _live(user.id, key, now)
    if row is not None:
        return _answer(row)
    user_id = user.id
    method, path, body_hash = _fingerprint()
    db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.user_id == user_id,
                                                    IdempotencyKey.created_at <= now - TTL))
    row = IdempotencyKey(user_id=user_id, key=key, method=method, path=path, body_hash=body_hash,
                         status=_ANSWERING, response_body="", created_at=now)
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:  # the same key, sent at the same moment, was answered first
        db.session.rollback()
        first = _live(user_id, key, utcnow())
        if first is None or first.status == _ANSWERING:
            raise Conflict(f"A request with this {HEADER} is being answered at this moment. Nothing was done "
                           "by this one: send it again in a moment.") from None
        return _answer(first)
    return row


def finish(row: IdempotencyKey, response: Response) -> None:
    """Keep ``response`` as the answer to the request of ``row`` (committed by the caller)."""
    row.status = response.status_code
    row.response_body = response.get_data(as_text=True)


def refused(row: IdempotencyKey, exc: DomainError) -> None:
    """Keep a refusal as the answer when the refusal keeps what it recorded (``keep_changes``), so a
    retry neither records it again nor is answered otherwise; other refusals roll the row back."""
    if exc.keep_changes:
        finish(row, json_error(exc.status, exc.code, exc.message))


def purge_expired(now: datetime | None = None) -> int:
    """Delete every key older than 24 hours; returns how many. Commits."""
    result = db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at <= (now or utcnow()) - TTL))
    db.session.commit()
    return result.rowcount or 0


@click.command("purge-idempotency-keys")
@with_appcontext
def purge_command() -> None:
    """Delete the stored answers of Idempotency-Keys older than 24 hours (already ignored; daily from cron)."""
    click.echo(f"{purge_expired()} expired Idempotency-Key answers deleted.")
