"""Editors check the audit chain from the certificate, without a command line."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from reviewflow.audit.models import AuditVerification
from tests.factories import make_article


@pytest.fixture
def live(cast):
    return make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])


def test_the_certificate_offers_editors_a_verification(cast, login, client, db, live):
    login(cast["editor"])
    url = f"/work/articles/{live.id}/versions/1/certificate"
    page = client.get(url).get_data(as_text=True)
    assert "Not verified yet" in page and "Verify the chain now" in page and "flask --app" not in page
    response = client.post("/audit/verify", data={"next": url})
    assert response.status_code == 303 and response.headers["Location"].endswith(url)
    assert db.session.scalars(select(AuditVerification)).one().ok
    page = client.get(url).get_data(as_text=True)
    assert "Chain verified" in page and "every link intact" in page


def test_a_writer_sees_no_verify_button(cast, login, client, db, live):
    login(cast["writer"])
    page = client.get(f"/work/articles/{live.id}/versions/1/certificate").get_data(as_text=True)
    assert "Verify the chain now" not in page
