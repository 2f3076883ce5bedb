"""Fixtures shared by the publishing tests."""
from __future__ import annotations

import pytest

from reviewflow.auth import services as accounts
from tests.factories import make_article, verify


@pytest.fixture
def published(db, cast):
    """A published article whose reviewer works at Lakeside Skin Clinic, plus another live article."""
    accounts.save_profile(None, cast["rev"], {
        "credentials": "M.D., Ph.D.", "specialty": "Dermatology", "license_number": "GA-77812",
        "license_expires": "2099-03-31", "affiliation": "Lakeside Skin Clinic",
        "organization": "Northwind Review Network", "bio": "Dana treats skin conditions in adults and children."})
    db.session.commit()
    verify(cast["rev"])
    other = make_article(cast["writer2"], "published", reviewer=cast["rev2"], editor=cast["editor"],
                         title="Taking ibuprofen safely", topic="Pharmacology")
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    return article, other
