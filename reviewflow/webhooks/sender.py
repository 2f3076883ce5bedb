"""Sending queued webhook deliveries: ``flask --app reviewflow send-webhooks`` (run by cron or a systemd timer).

Each delivery is a POST of its stored JSON body with ``Content-Type: application/json``,
``X-Reviewflow-Event``, ``X-Reviewflow-Delivery`` (its id: the same on every retry) and
``X-Reviewflow-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the
endpoint's secret>``, as Stripe signs: the receiver recomputes the HMAC over the exact bytes it got and
refuses a timestamp more than five minutes off, so a captured request cannot be replayed later.

An answer 2xx delivers it. Anything else (another status, a refused connection, a timeout, a TLS
error) counts an attempt, keeps the status, the start of the answer and the error, and waits
1, 2, 4… minutes (at most ``BACKOFF_CAP``) before the next one; after ``MAX_ATTEMPTS`` it is set aside
for an admin to look at and retry. Redirects are not followed (a 3xx is a failure, as at Stripe).
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import logging
import ssl
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import click
from sqlalchemy import or_, select, update

from reviewflow.extensions import db, utcnow
from reviewflow.webhooks.models import WebhookDelivery, WebhookEndpoint
from reviewflow.webhooks.services import PING

log = logging.getLogger(__name__)
#: Failed attempts after which a delivery is set aside: with the backoff below, about four hours of
#: trying (1 + 2 + 4 + 8 + 16 + 32 + 60 + 60 + 60 minutes between the ten attempts).
MAX_ATTEMPTS = 10
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(minutes=60)
#: How long a run holds a delivery it is about to send: another run leaves it alone meanwhile, and a
#: run that died mid-send hands it to the next run after this long.
CLAIM = timedelta(minutes=5)
#: Seconds allowed to connect, and then for each read of the answer.
TIMEOUT = 5.0
#: How much of an answer is read, and how much of it is kept for the admin page.
READ_MAX = 64 * 1024
KEEP_MAX = 2000
USER_AGENT = "reviewflow-webhooks/1"


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Reviewflow-Signature`` value: ``t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 1, 2, 4, 8, 16, 32, then 60 minutes."""
    return min(BACKOFF_BASE * 2 ** min(max(attempts - 1, 0), 16), BACKOFF_CAP)


@dataclass
class Answer:
    """What one attempt got: the HTTP status (None when there was no answer), the start of the body,
    and what went wrong ("" when it was delivered)."""

    status: int | None
    body: str = ""
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = TIMEOUT) -> Answer:
    """POST ``body`` to ``url`` once, without following redirects or using a proxy; never raises for
    the network or the receiver, whose failure comes back in the Answer."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read(READ_MAX).decode("utf-8", "replace")
        answer = Answer(response.status, text[:KEEP_MAX])
        if not answer.delivered:
            answer.error = f"The receiver answered {response.status} {response.reason}".rstrip() + "."
        return answer
    except TimeoutError:
        return Answer(None, error=f"No answer within {TIMEOUT:g} seconds.")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Answer(None, error=f"Could not deliver: {type(exc).__name__}: {exc}"[:500])
    finally:
        conn.close()


def _due(now: datetime):
    """WHERE: neither delivered nor set aside, its wait (or another run's claim) over by ``now``, and its
    endpoint active (an inactive endpoint's deliveries are held)."""
    return (WebhookDelivery.delivered_at.is_(None), WebhookDelivery.set_aside_at.is_(None),
            or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now),
            WebhookDelivery.endpoint_id.in_(select(WebhookEndpoint.id).where(WebhookEndpoint.active.is_(True))))


def _claim(delivery_id: int, now: datetime) -> bool:
    """Claim the delivery for this run (committed): True unless it is no longer due (another run took it).

    The claim runs ``CLAIM`` from the clock, or from ``now`` when that is later.
    """
    until = max(now, utcnow()) + CLAIM
    claimed = db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id, *_due(now))
                                 .values(next_attempt_at=until).execution_options(synchronize_session=False))
    db.session.commit()
    return claimed.rowcount == 1


def _attempt(delivery_id: int, now: datetime) -> WebhookDelivery | None:
    """Send a claimed delivery once and commit the outcome; None when an admin deleted its endpoint
    meanwhile. No transaction stays open while it waits for the receiver."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id) if delivery is not None else None
    if endpoint is None:
        db.session.commit()
        return None
    url, secret, body, event = endpoint.url, endpoint.secret, delivery.payload.encode(), delivery.event
    db.session.commit()  # ends the read; the objects are read again after the answer
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Reviewflow-Event": event,
               "X-Reviewflow-Delivery": str(delivery_id),
               "X-Reviewflow-Signature": signature(secret, body, int(time.time()))}
    answer = post(url, body, headers)
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:  # deleted with its endpoint while it was being sent
        return None
    _record(delivery, answer, now)
    db.session.commit()
    return delivery


def _record(delivery: WebhookDelivery, answer: Answer, now: datetime) -> None:
    """Count the attempt and keep what it got: delivered; or set aside (a test ping at once, any other after
    ``MAX_ATTEMPTS``); or waiting until ``now`` + ``backoff(attempts)``."""
    delivery.attempts += 1
    delivery.last_status, delivery.last_response, delivery.last_error = answer.status, answer.body, answer.error
    if answer.delivered:
        delivery.delivered_at, delivery.next_attempt_at = utcnow(), None
    elif delivery.event == PING or delivery.attempts >= MAX_ATTEMPTS:
        delivery.set_aside_at, delivery.next_attempt_at = utcnow(), None
    else:
        delivery.next_attempt_at = now + backoff(delivery.attempts)
    if not answer.delivered:
        log.warning("webhook delivery %s (%s) to endpoint %s %s: %s", delivery.id, delivery.event,
                    delivery.endpoint_id, "set aside" if delivery.set_aside_at else
                    f"not delivered, next attempt {delivery.next_attempt_at:%Y-%m-%d %H:%M} UTC", answer.error)


def send_webhooks(limit: int = 100, now: datetime | None = None) -> tuple[int, int]:
    """Send up to ``limit`` deliveries that are due at ``now`` (default: the clock), oldest first; returns
    ``(delivered, failed)``.

    Each delivery is claimed first (``next_attempt_at`` moved ``CLAIM`` ahead and committed, only if it is
    still due), so runs that overlap never send one twice; each outcome is committed on its own. Once an
    endpoint fails in a run, its other deliveries wait for the next run: a receiver that is down costs
    one timeout per run, not one per delivery. A run that dies between sending and recording leaves
    the delivery claimed, and the next run after ``CLAIM`` sends it again (receivers deduplicate on
    ``X-Reviewflow-Delivery``); none is lost.
    """
    now = now or utcnow()
    delivered = failed = 0
    rows = db.session.execute(select(WebhookDelivery.id, WebhookDelivery.endpoint_id).where(*_due(now))
                              .order_by(WebhookDelivery.id).limit(limit)).all()
    db.session.commit()
    failing: set[int] = set()
    for delivery_id, endpoint_id in rows:
        if endpoint_id in failing or not _claim(delivery_id, now):
            continue
        delivery = _attempt(delivery_id, now)
        if delivery is None:
            continue
        if delivery.delivered_at is not None:
            delivered += 1
        else:
            failed += 1
            failing.add(endpoint_id)
    return delivered, failed


def send_now(delivery_id: int) -> WebhookDelivery | None:
    """Send one delivery now (a test ping, a retry an admin asked for) through the same claim; None when
    it is not due any more (a run of ``send-webhooks`` took it meanwhile) or was deleted."""
    now = utcnow()
    if not _claim(delivery_id, now):
        return None
    return _attempt(delivery_id, now)


@click.command("send-webhooks")
@click.option("--limit", default=100, help="Send at most this many deliveries in this run.")
def send_webhooks_command(limit):
    """Deliver the webhook deliveries that are due (run it every minute from cron or a systemd timer)."""
    delivered, failed = send_webhooks(limit)
    click.echo(f"{delivered} delivered, {failed} failed.")
    if failed:
        sys.exit(1)
