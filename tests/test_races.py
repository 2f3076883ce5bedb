"""A write that loses a race to a unique constraint is a 409 with nothing saved, never a 500."""
from sqlalchemy.exc import IntegrityError


def _raise_integrity():
    raise IntegrityError("INSERT INTO revisions …", {}, Exception("duplicate key value"))


def test_lost_race_is_a_409_in_the_api_and_on_pages(app, client):
    app.add_url_rule("/api/v1/_race", "race_api", _raise_integrity)
    app.add_url_rule("/_race", "race_page", _raise_integrity)
    response = client.get("/api/v1/_race")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "invalid_state"
    page = client.get("/_race")
    assert page.status_code == 409
    assert "Traceback" not in page.get_data(as_text=True)
