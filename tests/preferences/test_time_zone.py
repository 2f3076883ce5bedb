"""One way to write a time, in the zone each person picks (stored UTC, shown in theirs)."""
from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from reviewflow.audit.models import AuditEvent
from reviewflow.extensions import db
from reviewflow.templating import human_date, when
from tests.factories import make_article

MOMENT = datetime(2026, 12, 7, 8, 35, 12, tzinfo=UTC)


def test_one_format_for_dates_and_moments():
    assert human_date(date(2026, 12, 7)) == "7 Dec 2026"
    assert human_date(MOMENT) == "7 Dec 2026"
    assert when(MOMENT, ZoneInfo("UTC")) == "7 Dec 2026, 08:35 UTC"
    assert when(MOMENT, ZoneInfo("Europe/Berlin")) == "7 Dec 2026, 09:35 CET"
    assert when(MOMENT, ZoneInfo("America/New_York"), seconds=True) == "7 Dec 2026, 03:35:12 EST"
    assert when(datetime(2026, 12, 31, 23, 30, tzinfo=UTC), ZoneInfo("Asia/Tokyo")) == "1 Jan 2027, 08:30 JST"


def test_choosing_a_zone_changes_the_times_on_ones_pages_and_is_audited(cast, login, client):
    article = make_article(cast["writer"])
    saved = article.revision.created_at
    login(cast["writer"])
    page = client.get(f"/work/articles/{article.id}").get_data(as_text=True)
    assert when(saved, ZoneInfo("UTC")) in page

    response = client.post("/account/preferences", data={"time_zone": "Asia/Kolkata"})
    assert response.status_code == 303
    page = client.get(f"/work/articles/{article.id}").get_data(as_text=True)
    assert when(saved, ZoneInfo("Asia/Kolkata")) in page and "IST" in page
    assert when(saved, ZoneInfo("UTC")) not in page.split("title=")[0]

    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "account.preferences_changed")).one()
    assert event.actor_id == cast["writer"].id and "Asia/Kolkata" in event.details
    # Another person's pages keep their own zone.
    client.post("/logout")
    login(cast["editor"])
    assert when(saved, ZoneInfo("UTC")) in client.get(f"/work/articles/{article.id}").get_data(as_text=True)


@pytest.mark.parametrize("bad", ["Mars/Olympus_Mons", "", "../../etc/passwd", "CET; DROP TABLE users"])
def test_an_unknown_zone_is_refused_beside_the_field(cast, login, client, bad):
    login(cast["writer"])
    response = client.post("/account/preferences", data={"time_zone": bad})
    assert response.status_code == 400
    assert "Choose a time zone from the list" in response.get_data(as_text=True)
    db.session.expire_all()
    assert cast["writer"].time_zone == "UTC"


def test_the_page_needs_a_log_in(client, db):
    response = client.get("/account/preferences")
    assert response.status_code in (302, 303) and "/login" in response.headers["Location"]
