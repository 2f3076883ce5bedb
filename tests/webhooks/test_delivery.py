"""Webhook deliveries against a real HTTP receiver: queued with the event, signed, retried, set aside."""
from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from reviewflow.errors import Conflict, Forbidden
from reviewflow.extensions import utcnow
from reviewflow.publishing import services as publishing
from reviewflow.reviews import services as reviews
from reviewflow.webhooks import sender
from reviewflow.webhooks.models import WebhookDelivery
from reviewflow.webhooks.sender import BACKOFF_CAP, MAX_ATTEMPTS, backoff, send_webhooks, signature
from tests.factories import CHECKLIST, PASSWORD, make_article


def _deliveries(db) -> list[WebhookDelivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def _count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(WebhookDelivery))


def _published(cast, title="Eczema in winter"):
    return make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"], title=title)


def test_a_published_article_is_delivered_signed_with_its_version(app, db, cast, receiver, hook):
    app.config["PUBLIC_URL"] = "https://health.example.org"
    endpoint = hook()
    article = _published(cast)
    [delivery] = _deliveries(db)
    assert (delivery.endpoint_id, delivery.event, delivery.attempts) == (endpoint.id, "article.published", 0)

    assert send_webhooks() == (1, 0)
    [got] = receiver.requests
    assert got.signature_ok and got.path == "/hooks/reviewflow"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Reviewflow-Event"] == "article.published"
    assert got.headers["X-Reviewflow-Delivery"] == str(delivery.id)
    assert got.headers["X-Reviewflow-Signature"].startswith("t=")
    body = got.json
    assert body["event"] == "article.published" and body["id"].startswith("evt_")
    assert body["occurred_at"].endswith("Z")
    assert body["article"] == {"id": article.id, "slug": article.slug, "title": "Eczema in winter",
                               "url": f"https://health.example.org/articles/{article.slug}"}
    version = body["version"]
    assert (version["version"], version["revision"], version["kind"]) == (1, 1, "publish")
    assert version["url"] == f"https://health.example.org/articles/{article.slug}/v1"
    assert version["change_note"] == "First published."
    assert [(r["name"], r["credentials"], r["specialty"]) for r in version["reviewed_by"]] == [
        ("Dana Okafor", "M.D., Ph.D.", "Dermatology")]
    assert got.body == delivery.payload.encode()  # the stored bytes, exactly

    [delivery] = _deliveries(db)
    assert delivery.delivered_at is not None and delivery.next_attempt_at is None
    assert (delivery.attempts, delivery.last_status, delivery.last_error) == (1, 200, "")
    assert send_webhooks(now=utcnow() + timedelta(days=1)) == (0, 0)  # delivered once, never again
    assert len(receiver.requests) == 1


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    """The value a receiver recomputes, checked against a value worked out by hand (Python's hmac)."""
    assert signature("whsec_test", b'{"a":1}', 1700000000) == (
        "t=1700000000,v1=" + __import__("hmac").new(b"whsec_test", b'1700000000.{"a":1}', "sha256").hexdigest())
    assert signature("whsec_test", b'{"a":1}', 1700000000) != signature("whsec_other", b'{"a":1}', 1700000000)


def test_publishing_through_the_api_sends_the_same_address_as_the_answer(app, db, cast, api, receiver, hook):
    hook(["article.published"])
    article = make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    response = api(cast["editor"], "POST", f"/articles/{article.id}/publish", json={"revision": 1})
    assert response.status_code == 201, response.get_json()
    assert len(_deliveries(db)) == 1
    send_webhooks()
    [got] = receiver.requests
    assert got.json["article"]["url"] == response.get_json()["url"]
    assert got.json["version"]["published_at"].startswith(response.get_json()["published_at"][:19])


def test_each_event_reaches_only_the_endpoints_subscribed_to_it(app, db, cast, receiver, hook):
    published = hook(["article.published"], url=receiver.url_for("/published"))
    unpublished = hook(["article.unpublished"], url=receiver.url_for("/unpublished"))
    rereviewed = hook(["article.rereviewed"], url=receiver.url_for("/rereviewed"))
    off = hook(["article.published", "article.unpublished", "article.rereviewed"], url=receiver.url_for("/off"))
    from reviewflow.webhooks import services as webhooks
    webhooks.set_endpoint_active(cast["admin"], off, False)
    db.session.commit()

    article = _published(cast)
    # a re-review of the unchanged text: a second reviewer, both approve again
    reviews.assign_reviewer(cast["editor"], article, cast["rev2"].id)
    db.session.commit()
    for who in ("rev", "rev2"):
        reviews.sign_decision(cast[who], article, article.current_revision, "approve", PASSWORD, checklist=CHECKLIST)
        db.session.commit()
    publishing.unpublish_article(cast["editor"], article, "Superseded by new guidance.")
    db.session.commit()

    assert {(d.endpoint_id, d.event) for d in _deliveries(db)} == {
        (published.id, "article.published"), (rereviewed.id, "article.rereviewed"),
        (unpublished.id, "article.unpublished")}
    assert send_webhooks() == (3, 0)
    assert [r.json["event"] for r in receiver.at("/published")] == ["article.published"]
    assert receiver.at("/off") == []
    again = receiver.at("/rereviewed")[0].json
    assert (again["version"]["version"], again["version"]["kind"]) == (2, "rereview")
    assert sorted(r["name"] for r in again["version"]["reviewed_by"]) == ["Dana Okafor", "Ravi Senn"]
    gone = receiver.at("/unpublished")[0].json
    assert gone["reason"] == "Superseded by new guidance." and "version" not in gone
    assert gone["article"]["title"] == "Eczema in winter"
    assert all(r.signature_ok for r in receiver.requests)


def test_deliveries_are_queued_in_the_events_transaction(app, db, cast, hook):
    """A refused publish queues nothing, and neither does a publish whose transaction is rolled back."""
    hook()
    article = make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    with pytest.raises(Forbidden):
        publishing.publish_revision(cast["writer"], article, 1)
    db.session.rollback()
    with pytest.raises(Conflict):
        publishing.unpublish_article(cast["editor"], article, "Not live yet.")
    db.session.rollback()
    assert _count(db) == 0

    publishing.publish_revision(cast["editor"], article, 1)
    assert _count(db) == 1  # in the same transaction, before any commit
    db.session.rollback()
    assert _count(db) == 0 and publishing.live_version_of(article) is None

    publishing.publish_revision(cast["editor"], article, 1)
    db.session.commit()
    assert _count(db) == 1


def test_a_receiver_that_fails_and_recovers_gets_the_delivery_exactly_once(app, db, cast, receiver, hook):
    hook()
    _published(cast)
    receiver.statuses = [500, 500]
    t0 = utcnow()
    assert send_webhooks(now=t0) == (0, 1)
    [d] = _deliveries(db)
    assert (d.attempts, d.last_status, d.delivered_at, d.set_aside_at) == (1, 500, None, None)
    assert d.last_response.startswith("Internal error: the CMS database is down") and len(d.last_response) == 2000
    assert "500" in d.last_error
    assert d.next_attempt_at == t0 + timedelta(minutes=1)

    assert send_webhooks(now=t0 + timedelta(seconds=59)) == (0, 0)  # not due yet
    t1 = t0 + timedelta(minutes=1)
    assert send_webhooks(now=t1) == (0, 1)
    [d] = _deliveries(db)
    assert d.attempts == 2 and d.next_attempt_at == t1 + timedelta(minutes=2)

    t2 = t1 + timedelta(minutes=2)
    assert send_webhooks(now=t2) == (1, 0)
    [d] = _deliveries(db)
    assert d.delivered_at is not None and (d.attempts, d.last_status, d.last_error) == (3, 200, "")
    assert send_webhooks(now=t2 + timedelta(hours=5)) == (0, 0)

    assert len(receiver.requests) == 3 and len(receiver.delivered) == 1
    assert {r.headers["X-Reviewflow-Delivery"] for r in receiver.requests} == {str(d.id)}
    assert {r.body for r in receiver.requests} == {d.payload.encode()}  # every retry sends the same bytes
    assert all(r.signature_ok for r in receiver.requests)


def test_backoff_doubles_up_to_an_hour():
    assert [backoff(n) for n in range(1, 10)] == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60, 60, 60)]
    assert backoff(500) == BACKOFF_CAP


def test_a_delivery_is_set_aside_after_the_last_attempt_and_an_admin_retries_it(app, db, cast, receiver, hook,
                                                                                 login):
    hook()
    _published(cast)
    receiver.statuses = [503] * MAX_ATTEMPTS
    now = utcnow()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert send_webhooks(now=now) == (0, 1), attempt
        [d] = _deliveries(db)
        assert d.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert d.set_aside_at is None and d.next_attempt_at == now + backoff(attempt)
            now = d.next_attempt_at
    assert d.set_aside_at is not None and d.next_attempt_at is None and d.last_status == 503
    assert send_webhooks(now=now + timedelta(days=30)) == (0, 0)  # never again on its own
    assert len(receiver.requests) == MAX_ATTEMPTS

    client = login(cast["admin"])
    html = client.get("/admin/webhooks/deliveries?status=set_aside").get_data(as_text=True)
    assert "Set aside" in html and "HTTP 503" in html and f"/admin/webhooks/deliveries/{d.id}/retry" in html
    response = client.post(f"/admin/webhooks/deliveries/{d.id}/retry")
    assert response.status_code == 303
    [d] = _deliveries(db)
    assert d.delivered_at is not None and d.attempts == MAX_ATTEMPTS + 1 and d.set_aside_at is None
    assert len(receiver.delivered) == 1 and receiver.delivered[0].signature_ok
    from tests.factories import events_after
    assert [e.action for e in events_after(0) if e.action.startswith("webhook.")][-1] == "webhook.delivery_retried"
    assert client.post(f"/admin/webhooks/deliveries/{d.id}/retry").status_code == 409  # delivered: nothing to retry


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_receiver_costs_one_attempt_per_run(app, db, cast, hook):
    hook(url=f"http://127.0.0.1:{_closed_port()}/hooks")
    _published(cast, "Eczema in winter")
    _published(cast, "Sun protection for children")
    assert send_webhooks() == (0, 1)
    first, second = _deliveries(db)
    assert first.attempts == 1 and first.last_status is None and "Could not deliver" in first.last_error
    assert second.attempts == 0 and second.next_attempt_at is None  # left for the next run


def test_runs_that_overlap_send_each_delivery_once(app, db, cast, receiver, hook, monkeypatch):
    """Each delivery is claimed before it is sent: a run started while another is sending takes the rest."""
    hook()
    for n in range(3):
        _published(cast, f"Article {n}")
    post, started, second = sender.post, [], []

    def post_and_start_another_run(*args, **kwargs):
        if not started:
            started.append(True)
            second.append(send_webhooks())
        return post(*args, **kwargs)

    monkeypatch.setattr(sender, "post", post_and_start_another_run)
    assert send_webhooks() == (1, 0)
    assert second == [(2, 0)]
    ids = [r.headers["X-Reviewflow-Delivery"] for r in receiver.requests]
    assert sorted(ids) == sorted({str(d.id) for d in _deliveries(db)}) and len(ids) == 3


def test_an_inactive_endpoint_holds_its_deliveries(app, db, cast, receiver, hook):
    from reviewflow.webhooks import services as webhooks
    endpoint = hook()
    _published(cast)
    webhooks.set_endpoint_active(cast["admin"], endpoint, False)
    db.session.commit()
    assert send_webhooks() == (0, 0) and receiver.requests == []
    _published(cast, "Sun protection for children")
    assert _count(db) == 1  # nothing new is queued for it
    webhooks.set_endpoint_active(cast["admin"], endpoint, True)
    db.session.commit()
    assert send_webhooks() == (1, 0)


def test_the_command_sends_and_says_how_many(app, db, cast, receiver, hook):
    hook()
    _published(cast)
    result = app.test_cli_runner().invoke(args=["send-webhooks"])
    assert result.exit_code == 0 and "1 delivered, 0 failed." in result.output
    receiver.statuses = [500]
    _published(cast, "Sun protection for children")
    result = app.test_cli_runner().invoke(args=["send-webhooks"])
    assert result.exit_code == 1 and "0 delivered, 1 failed." in result.output


def test_an_endpoint_deleted_while_its_delivery_is_sent_ends_the_attempt_quietly(app, db, cast, receiver, hook,
                                                                                  monkeypatch):
    from reviewflow.webhooks import services as webhooks
    endpoint = hook()
    _published(cast)
    post = sender.post

    def post_while_an_admin_deletes(*args, **kwargs):
        answer = post(*args, **kwargs)
        webhooks.delete_endpoint(cast["admin"], webhooks.get_endpoint(endpoint.id))
        db.session.commit()
        return answer

    monkeypatch.setattr(sender, "post", post_while_an_admin_deletes)
    assert send_webhooks() == (0, 0)
    assert _count(db) == 0 and len(receiver.requests) == 1
