"""Webhook endpoints an admin registers, and the deliveries queued for them with each event.

An event (an article published, unpublished or re-reviewed) queues one ``WebhookDelivery`` per active
endpoint subscribed to it, in the transaction that writes the event (``queue_article_event``, called
by publishing): the delivery exists exactly when the event does. Its body is fixed then, so every
retry sends the same bytes; ``flask send-webhooks`` (``webhooks.sender``) delivers it later. Every
change an admin makes here is an audit event; the secret never enters one.
"""
from __future__ import annotations

import ipaddress
import json
import secrets
import uuid
from urllib.parse import urlsplit

from flask import current_app, has_request_context
from sqlalchemy import delete, func, select

from reviewflow import paging, policy, public_url
from reviewflow.audit import services as audit
from reviewflow.audit.actions import AuditAction
from reviewflow.auth.models import User
from reviewflow.errors import Conflict, InvalidInput, NotFound
from reviewflow.extensions import db, iso, utcnow
from reviewflow.publishing.models import PublishedReview, PublishedVersion
from reviewflow.textrules import one_line
from reviewflow.webhooks.models import WebhookDelivery, WebhookEndpoint

#: The events an endpoint can subscribe to, with the words the admin page uses for them.
EVENTS = {
    "article.published": "An article is published (a first version or an update)",
    "article.rereviewed": "A re-review of unchanged text is complete (a new version, new “last reviewed” date)",
    "article.unpublished": "An article is taken off the public site",
}
#: The event of a test ping an admin sends from the endpoints page (never subscribed to).
PING = "ping"
URL_MAX = 2000
DESCRIPTION_MAX = 200
#: Host names that are this machine: plain ``http://`` is allowed to them only (development, a CMS on
#: the same host); anything else must be ``https://``, so the signed body is not readable on the way.
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def _check_admin(actor) -> None:
    policy.require(actor, "admin.manage")


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(value) -> str:
    """The endpoint's address, checked: ``https://`` anywhere, or ``http://`` to this machine only
    (localhost, 127.0.0.0/8, ::1); a host, no user name or password in it, no fragment, no white space.
    Raises InvalidInput (field ``url``)."""
    url = one_line(value, "url", URL_MAX)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a port that is not a number raises here)
    except ValueError:
        raise InvalidInput("Give the full address, such as https://cms.example.org/hooks/reviewflow.",
                           field="url") from None
    if parts.scheme not in ("https", "http") or not parts.hostname or any(ch.isspace() for ch in url):
        raise InvalidInput("Give the full address, such as https://cms.example.org/hooks/reviewflow.", field="url")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("Leave the user name and password out of the address: deliveries are signed instead.",
                           field="url")
    if parts.fragment or url.endswith("#"):
        raise InvalidInput("An address with a fragment (#…) cannot receive a request.", field="url")
    if parts.scheme == "http" and not _loopback(parts.hostname.lower()):
        raise InvalidInput("Use an https:// address: plain http:// is allowed only to this machine "
                           "(localhost, 127.0.0.1, ::1).", field="url")
    return url


def check_events(values) -> list[str]:
    """The chosen events, in the order of ``EVENTS``; at least one, each a known one (InvalidInput)."""
    chosen = set(values or [])
    if not chosen:
        raise InvalidInput("Choose at least one event to send.", field="events")
    unknown = chosen - EVENTS.keys()
    if unknown:
        raise InvalidInput(f"Unknown event {sorted(unknown)[0]!r}.", field="events")
    return [name for name in EVENTS if name in chosen]


def new_secret() -> str:
    """A signing secret: ``whsec_`` and 32 random bytes, URL-safe Base64 (the HMAC key is the whole text)."""
    return "whsec_" + secrets.token_urlsafe(32)


def create_endpoint(actor, url, description, events) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint (admins) and return it with its secret, which is shown this once.

    Raises Forbidden for anyone but an admin and InvalidInput for a bad address, description or
    event list. Audited as ``webhook.created`` (address, description and events; never the secret).
    """
    _check_admin(actor)
    url = check_url(url)
    description = one_line(description or "", "description", DESCRIPTION_MAX, required=False)
    chosen = check_events(events)
    secret = new_secret()
    endpoint = WebhookEndpoint(url=url, description=description, secret=secret, events=" ".join(chosen),
                               active=True, created_by_id=actor.id)
    db.session.add(endpoint)
    db.session.flush()
    audit.record(AuditAction.WEBHOOK_CREATED, actor=actor, role="admin", target=endpoint,
                 target_type="webhook_endpoint", target_label=url,
                 details={"url": url, "description": description, "events": chosen})
    return endpoint, secret


def get_endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound("There is no webhook endpoint with that id.")
    return endpoint


def set_endpoint_active(actor, endpoint: WebhookEndpoint, active: bool) -> WebhookEndpoint:
    """Deactivate an endpoint (no new deliveries are queued for it and its waiting ones are held, not
    sent) or activate it again (the held ones go out with the next run). Admins; audited as
    ``webhook.deactivated`` / ``webhook.activated``; 409 when it already is so."""
    _check_admin(actor)
    if endpoint.active == active:
        raise Conflict(f"This endpoint is already {'active' if active else 'inactive'}.")
    endpoint.active = active
    db.session.flush()
    audit.record(AuditAction.WEBHOOK_ACTIVATED if active else AuditAction.WEBHOOK_DEACTIVATED, actor=actor,
                 role="admin", target=endpoint, target_type="webhook_endpoint", target_label=endpoint.url,
                 details={"url": endpoint.url, "active": [not active, active]})
    return endpoint


def delete_endpoint(actor, endpoint: WebhookEndpoint) -> int:
    """Delete an endpoint and every delivery of it, sent or not (admins); returns how many deliveries
    went with it. Audited as ``webhook.deleted`` with the address, events and that count."""
    _check_admin(actor)
    count = db.session.scalar(select(func.count()).select_from(WebhookDelivery)
                              .where(WebhookDelivery.endpoint_id == endpoint.id)) or 0
    audit.record(AuditAction.WEBHOOK_DELETED, actor=actor, role="admin", target=endpoint,
                 target_type="webhook_endpoint", target_label=endpoint.url,
                 details={"url": endpoint.url, "events": endpoint.events.split(), "deliveries_deleted": count})
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
                       .execution_options(synchronize_session=False))
    db.session.delete(endpoint)
    db.session.flush()
    return count


def ping_endpoint(actor, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a signed test delivery (event ``ping``) for an active endpoint (admins; 409 when it is
    inactive), for the caller to send at once (``sender.send_now``). Audited as ``webhook.pinged``."""
    _check_admin(actor)
    if not endpoint.active:
        raise Conflict("This endpoint is inactive: activate it before sending it a test ping.")
    now = utcnow()
    body = {"event": PING, "id": _event_id(), "occurred_at": iso(now),
            "endpoint": {"id": endpoint.id, "url": endpoint.url, "events": endpoint.events.split()}}
    delivery = WebhookDelivery(endpoint_id=endpoint.id, event=PING, payload=_dump(body), attempts=0,
                               last_response="", last_error="")
    db.session.add(delivery)
    db.session.flush()
    audit.record(AuditAction.WEBHOOK_PINGED, actor=actor, role="admin", target=endpoint, target_type="webhook_endpoint",
                 target_label=endpoint.url, details={"url": endpoint.url, "delivery": delivery.id})
    return delivery


def get_delivery(delivery_id: int) -> WebhookDelivery:
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFound("There is no webhook delivery with that id.")
    return delivery


def retry_delivery(actor, delivery: WebhookDelivery) -> WebhookDelivery:
    """Put a set-aside delivery back in the queue, due now, for the caller to send at once (admins).

    Its attempts are kept, so a retry that fails again sets it aside again. 409 unless it is set
    aside, or when its endpoint is inactive. Audited as ``webhook.delivery_retried``.
    """
    _check_admin(actor)
    if delivery.delivered_at is not None or delivery.set_aside_at is None:
        raise Conflict("Only a delivery that was set aside can be retried; this one is "
                       + ("delivered." if delivery.delivered_at else "still in the queue."))
    endpoint = get_endpoint(delivery.endpoint_id)
    if not endpoint.active:
        raise Conflict("Its endpoint is inactive: activate it before retrying its deliveries.")
    delivery.set_aside_at, delivery.next_attempt_at = None, None
    db.session.flush()
    audit.record(AuditAction.WEBHOOK_DELIVERY_RETRIED, actor=actor, role="admin", target=endpoint,
                 target_type="webhook_endpoint", target_label=endpoint.url,
                 details={"delivery": delivery.id, "event": delivery.event, "attempts": delivery.attempts})
    return delivery


# Queuing with the event --------------------------------------------------------------------------

def _event_id() -> str:
    return "evt_" + uuid.uuid4().hex


def _dump(body: dict) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _public(endpoint: str, **values) -> str:
    """The absolute public address of a page (``public_url``), also outside a request (a command such as
    ``seed-demo``), where ``url_for`` cannot build: relative then unless ``PUBLIC_URL`` is set."""
    if has_request_context():
        return public_url.public_url_for(endpoint, **values)
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return public_url.absolute(path)


def _version_body(version: PublishedVersion) -> dict:
    reviews = db.session.scalars(select(PublishedReview).where(PublishedReview.published_version_id == version.id)
                                 .order_by(PublishedReview.id))
    return {"version": version.version, "revision": version.revision_number, "kind": version.kind,
            "published_at": iso(version.published_at), "last_reviewed": iso(version.last_reviewed_at),
            "content_hash": version.content_hash, "change_note": version.change_note,
            "url": _public("public.version", slug=version.slug, n=version.version),
            "reviewed_by": [{"name": r.name, "credentials": r.credentials, "specialty": r.specialty,
                             "reviewed_at": iso(r.reviewed_at)} for r in reviews]}


def payload_of(event: str, article, version: PublishedVersion | None, reason: str | None) -> dict:
    """The JSON body of an event: ``{event, id, occurred_at, article: {id, slug, title, url}}`` and, for
    a published or re-reviewed version, ``version: {version, revision, kind, published_at,
    last_reviewed, content_hash, change_note, url, reviewed_by: [{name, credentials, specialty,
    reviewed_at}]}``; for an unpublished article, ``reason`` (what readers now see). The title is the
    one readers saw (the published version's), never a draft's."""
    shown = version or db.session.scalar(select(PublishedVersion).where(PublishedVersion.article_id == article.id)
                                         .order_by(PublishedVersion.version.desc()).limit(1))
    occurred = version.published_at if version is not None else (article.unpublished_at or utcnow())
    body = {"event": event, "id": _event_id(), "occurred_at": iso(occurred),
            "article": {"id": article.id, "slug": article.slug, "title": shown.title if shown else article.title,
                        "url": _public("public.article", slug=article.slug)}}
    if version is not None:
        body["version"] = _version_body(version)
    if reason is not None:
        body["reason"] = reason
    return body


def queue_article_event(event: str, article, version: PublishedVersion | None = None,
                        reason: str | None = None) -> int:
    """Queue ``event`` for every active endpoint subscribed to it, in the caller's transaction (flushes,
    never commits): one delivery each, all with the same body. Returns how many were queued.

    Publishing calls it where it writes the event: ``article.published`` and ``article.rereviewed``
    with the new version, ``article.unpublished`` with the reason. With no subscriber it costs one query.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    endpoints = [e for e in db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))
                                               .order_by(WebhookEndpoint.id)) if event in e.events.split()]
    if not endpoints:
        return 0
    payload = _dump(payload_of(event, article, version, reason))
    for endpoint in endpoints:
        db.session.add(WebhookDelivery(endpoint_id=endpoint.id, event=event, payload=payload, attempts=0,
                                       last_response="", last_error=""))
    db.session.flush()
    return len(endpoints)


# For the admin pages ------------------------------------------------------------------------------

def endpoint_list() -> tuple[list[WebhookEndpoint], dict[int, str], dict[int, dict[str, int]]]:
    """Every endpoint, newest first; who registered each (names by user id); and per endpoint how many
    deliveries wait and how many were set aside. Three queries whatever their number; the counts walk
    the delivery index on (delivered_at, set_aside_at, …)."""
    endpoints = list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id.desc())))
    ids = {e.created_by_id for e in endpoints}
    names = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all()) if ids else {}
    counts: dict[int, dict[str, int]] = {e.id: {"waiting": 0, "set_aside": 0} for e in endpoints}
    rows = db.session.execute(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.set_aside_at.is_(None), func.count())
        .where(WebhookDelivery.delivered_at.is_(None))
        .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.set_aside_at.is_(None)))
    for endpoint_id, waiting, n in rows:
        if endpoint_id in counts:
            counts[endpoint_id]["waiting" if waiting else "set_aside"] += n
    return endpoints, names, counts


#: The delivery list's filters: which deliveries each status shows.
STATUSES = {
    "waiting": (WebhookDelivery.delivered_at.is_(None), WebhookDelivery.set_aside_at.is_(None)),
    "set_aside": (WebhookDelivery.delivered_at.is_(None), WebhookDelivery.set_aside_at.is_not(None)),
    "delivered": (WebhookDelivery.delivered_at.is_not(None),),
}
#: Cursors of the delivery list, newest first: ``d<id>``.
DELIVERY_KEYSET = paging.Keyset("d", (paging.MAX_ID,), lambda d: (d.id,))


def delivery_page(cursor: paging.Cursor | None = None, per_page: int = 25, endpoint_id: int | None = None,
                  status: str | None = None) -> paging.KeysetPage:
    """Deliveries newest first, of one endpoint and in one status when given, keyset-paginated on id."""
    where = [*STATUSES.get(status or "", ())]
    if endpoint_id is not None:
        where.append(WebhookDelivery.endpoint_id == endpoint_id)
    total = db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(*where)) or 0

    def run(at: paging.Cursor | None) -> list[WebhookDelivery]:
        stmt = paging.descending(select(WebhookDelivery).where(*where), (WebhookDelivery.id,), at,
                                 at.key if at else None, per_page + 1)
        return list(db.session.scalars(stmt))

    return DeliveryPage(*paging.fetch(run, cursor, per_page), total, "delivery")


class DeliveryPage(paging.KeysetPage):
    """A page of deliveries: its summary says "deliveries", not "deliverys"."""

    @property
    def summary(self) -> str:
        return super().summary.replace("deliverys", "deliveries")


def endpoints_by_id() -> dict[int, WebhookEndpoint]:
    return {e.id: e for e in db.session.scalars(select(WebhookEndpoint))}
