"""Choosing how notifications reach one by e-mail, on the preferences page: stored, audited, honoured."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from reviewflow.audit.models import AuditEvent
from reviewflow.extensions import db
from reviewflow.notifications import services as notices
from reviewflow.notifications.models import NotificationSettings, OutboxEmail


def test_the_default_is_the_hourly_digest_and_the_page_says_so(client, login, cast):
    login(cast["writer"])
    html = client.get("/account/preferences").get_data(as_text=True)
    assert 'value="hourly" checked' in html and "E-mail about notifications" in html
    assert notices.email_mode(cast["writer"]) == "hourly"


@pytest.mark.parametrize("mode", ["immediately", "daily", "off", "hourly"])
def test_choosing_a_mode_is_stored_audited_and_shown(client, login, cast, mode):
    login(cast["writer"])
    response = client.post("/account/preferences", data={"email_mode": mode})
    assert response.status_code == 303 and response.headers["Location"] == "/account/preferences"
    assert notices.email_mode(cast["writer"]) == mode
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "account.email_preference_changed")).all()
    if mode == "hourly":  # already the default: nothing changed, nothing recorded
        assert events == [] and db.session.get(NotificationSettings, cast["writer"].id) is None
        assert "Nothing changed." in client.get("/account/preferences").get_data(as_text=True)
        return
    (event,) = events
    assert event.actor_id == cast["writer"].id
    assert json.loads(event.details) == {"email": {"from": "hourly", "to": mode}}
    assert f'value="{mode}" checked' in client.get("/account/preferences").get_data(as_text=True)
    assert cast["writer"].time_zone == "UTC"  # the other form's choice is untouched


@pytest.mark.parametrize("bad", ["weekly", "", "HOURLY ", "off'; --"])
def test_an_unknown_mode_is_refused_beside_the_choices(client, login, cast, bad):
    login(cast["writer"])
    response = client.post("/account/preferences", data={"email_mode": bad})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Choose how you get notifications by e-mail" in html and 'id="email_mode-error"' in html
    assert 'id="time_zone-error"' not in html
    assert db.session.get(NotificationSettings, cast["writer"].id) is None


def test_the_choice_is_each_persons_own(client, login, cast):
    login(cast["writer"])
    client.post("/account/preferences", data={"email_mode": "immediately"})
    notices.notify(cast["writer"], "For the writer")
    notices.notify(cast["writer2"], "For the other writer")
    db.session.commit()
    assert db.session.scalars(select(OutboxEmail.to_address)).all() == [cast["writer"].email]


def test_the_time_zone_form_still_works_on_its_own(client, login, cast):
    login(cast["writer"])
    assert client.post("/account/preferences", data={"time_zone": "Europe/Berlin"}).status_code == 303
    db.session.expire_all()
    assert cast["writer"].time_zone == "Europe/Berlin" and notices.email_mode(cast["writer"]) == "hourly"
