"""The admins' webhook pages: who may see them, registering (audited, secret shown once), ping, deactivate,
delete, and the paged delivery list with what each receiver answered."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from reviewflow.errors import InvalidInput
from reviewflow.webhooks import services as webhooks
from reviewflow.webhooks.models import WebhookDelivery, WebhookEndpoint
from reviewflow.webhooks.sender import send_webhooks
from tests.factories import events_after, last_seq, make_article

PAGES = ["/admin/webhooks", "/admin/webhooks/new", "/admin/webhooks/deliveries"]
EVENTS = ["article.published", "article.unpublished"]


def _endpoints(db) -> list[WebhookEndpoint]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


@pytest.mark.parametrize("who", ["writer", "editor", "rev"])
def test_only_admins_see_or_change_webhooks(app, db, cast, login, hook, who):
    endpoint = hook()
    client = login(cast[who])
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 403, path
        assert endpoint.url not in response.get_data(as_text=True)
    assert client.post("/admin/webhooks/new", data={"url": "https://cms.example.org/h", "events": EVENTS}
                       ).status_code == 403
    for action in ("ping", "deactivate", "delete"):
        assert client.post(f"/admin/webhooks/{endpoint.id}/{action}").status_code == 403, action
    assert [(e.url, e.active) for e in _endpoints(db)] == [(endpoint.url, True)]
    assert 'href="/admin/webhooks"' not in client.get("/dashboard").get_data(as_text=True)


def test_anonymous_visitors_are_sent_to_log_in(client, db):
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_admins_see_the_pages(app, db, cast, login):
    client = login(cast["admin"])
    for path in PAGES:
        assert client.get(path).status_code == 200, path
    assert 'href="/admin/webhooks"' in client.get("/admin/users").get_data(as_text=True)


def test_registering_an_endpoint_shows_its_secret_once_and_is_audited(app, db, cast, login):
    client = login(cast["admin"])
    seq = last_seq()
    response = client.post("/admin/webhooks/new", data={
        "url": "https://cms.example.org/hooks/reviewflow", "description": "CMS: refresh article pages",
        "events": EVENTS})
    assert response.status_code == 200
    [endpoint] = _endpoints(db)
    assert (endpoint.url, endpoint.description, endpoint.events, endpoint.active, endpoint.created_by_id) == (
        "https://cms.example.org/hooks/reviewflow", "CMS: refresh article pages",
        "article.published article.unpublished", True, cast["admin"].id)
    assert endpoint.secret.startswith("whsec_") and len(endpoint.secret) > 40
    assert endpoint.secret in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    [event] = events_after(seq)
    assert (event.action, event.actor_id, event.actor_role, event.target_id) == (
        "webhook.created", cast["admin"].id, "admin", endpoint.id)
    assert json.loads(event.details) == {"url": endpoint.url, "description": "CMS: refresh article pages",
                                         "events": EVENTS}
    assert endpoint.secret not in event.details
    listing = client.get("/admin/webhooks").get_data(as_text=True)
    assert endpoint.url in listing and endpoint.secret not in listing


@pytest.mark.parametrize("url", ["http://cms.example.org/hooks", "ftp://cms.example.org/", "cms.example.org/hooks",
                                 "https://user:pw@cms.example.org/hooks", "https://cms.example.org/a b",
                                 "https://cms.example.org:99999/", "https:///nohost", "https://cms.example.org/#x"])
def test_an_address_that_is_not_https_or_loopback_http_is_refused(app, db, cast, login, url):
    client = login(cast["admin"])
    response = client.post("/admin/webhooks/new", data={"url": url, "events": EVENTS})
    assert response.status_code == 400
    assert _endpoints(db) == []


@pytest.mark.parametrize("url", ["https://cms.example.org/hooks?site=1", "http://localhost:8080/hooks",
                                 "http://127.0.0.1:9000/", "http://[::1]:9000/hooks", "http://cms.localhost/h"])
def test_https_anywhere_and_http_to_this_machine_are_accepted(url):
    assert webhooks.check_url(url) == url


def test_events_must_be_chosen_from_the_list(app, db, cast, login):
    client = login(cast["admin"])
    assert client.post("/admin/webhooks/new", data={"url": "https://cms.example.org/h"}).status_code == 400
    assert client.post("/admin/webhooks/new", data={"url": "https://cms.example.org/h", "events": ["article.deleted"]}
                       ).status_code == 400
    with pytest.raises(InvalidInput):
        webhooks.create_endpoint(cast["admin"], "https://cms.example.org/h", "", ["ping"])
    db.session.rollback()
    assert _endpoints(db) == []


def test_a_test_ping_is_signed_delivered_at_once_and_audited(app, db, cast, login, receiver, hook):
    endpoint = hook()
    client = login(cast["admin"])
    seq = last_seq()
    response = client.post(f"/admin/webhooks/{endpoint.id}/ping", follow_redirects=True)
    assert "The test ping was delivered: the receiver answered 200." in response.get_data(as_text=True)
    [got] = receiver.requests
    assert got.signature_ok and got.headers["X-Reviewflow-Event"] == "ping"
    assert got.json["event"] == "ping" and got.json["endpoint"]["id"] == endpoint.id
    [delivery] = db.session.scalars(select(WebhookDelivery))
    assert delivery.delivered_at is not None
    assert [e.action for e in events_after(seq)] == ["webhook.pinged"]

    receiver.statuses = [500]
    html = client.post(f"/admin/webhooks/{endpoint.id}/ping", follow_redirects=True).get_data(as_text=True)
    assert "The test ping was not delivered." in html and "500" in html
    failed = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id.desc())).first()
    assert failed.set_aside_at is not None  # a failed ping is not retried on its own


def test_deactivating_and_deleting_are_audited(app, db, cast, login, receiver, hook):
    endpoint = hook()
    make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    client = login(cast["admin"])
    seq = last_seq()
    assert client.post(f"/admin/webhooks/{endpoint.id}/deactivate").status_code == 303
    assert _endpoints(db)[0].active is False
    assert client.post(f"/admin/webhooks/{endpoint.id}/deactivate").status_code == 409
    assert client.post(f"/admin/webhooks/{endpoint.id}/ping").status_code == 409
    html = client.get("/admin/webhooks/deliveries").get_data(as_text=True)
    assert "Held while the endpoint is inactive" in html
    assert client.post(f"/admin/webhooks/{endpoint.id}/activate").status_code == 303
    response = client.post(f"/admin/webhooks/{endpoint.id}/delete", follow_redirects=True)
    assert "with its 1 delivery" in response.get_data(as_text=True)
    assert _endpoints(db) == [] and db.session.scalars(select(WebhookDelivery)).all() == []
    events = events_after(seq)
    assert [e.action for e in events] == ["webhook.deactivated", "webhook.activated", "webhook.deleted"]
    assert json.loads(events[-1].details)["deliveries_deleted"] == 1
    assert client.post(f"/admin/webhooks/{endpoint.id}/delete").status_code == 404


def test_the_delivery_list_shows_answers_and_pages_newest_first(app, db, cast, login, receiver, hook):
    endpoint = hook()
    for n in range(3):
        make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"], title=f"Article {n}")
    receiver.statuses = [502]
    assert send_webhooks() == (0, 1)  # the endpoint failed: its other deliveries wait for the next run
    app.config["PER_PAGE"] = 2
    client = login(cast["admin"])
    html = client.get("/admin/webhooks/deliveries").get_data(as_text=True)
    ids = [d.id for d in db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))]
    shown = [i for i in ids if f"<td>#{i} <code>" in html]
    assert shown == ids[1:]
    assert "Showing 2 of 3 deliveries" in html
    next_url = html.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    html = client.get(next_url).get_data(as_text=True)
    assert [i for i in ids if f"<td>#{i} <code>" in html] == ids[:1]
    assert "HTTP 502" in html and "The receiver answered 502 Bad Gateway." in html
    assert "Internal error: the CMS database is down" in html
    html = client.get(f"/admin/webhooks/deliveries?endpoint_id={endpoint.id}&status=delivered").get_data(as_text=True)
    assert "No deliveries match" in html
    listing = client.get("/admin/webhooks").get_data(as_text=True)
    assert "3 waiting" in listing
    for junk in ("?before=x", "?before=d99999999999", "?endpoint_id=abc&status=nonsense", "?after=d0"):
        assert client.get("/admin/webhooks/deliveries" + junk).status_code == 200, junk
