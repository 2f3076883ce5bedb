"""An admin verifies a reviewer's credentials through the form in a real browser, and the verification
then shows where editors and readers look: the assignment list and the review certificate.

Screenshots of the three pages go to a folder under the system's temporary directory
(``REVIEWFLOW_SHOTS`` to choose another), never into the repository.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from flask import current_app
from playwright.sync_api import expect
from sqlalchemy import select

from reviewflow.articles import services as articles
from reviewflow.auth.models import ReviewerProfile
from reviewflow.extensions import db
from reviewflow.publishing import services as publishing
from reviewflow.reviews import services as reviews
from tests.browser.helpers import BODY_1, TITLE, TOPIC, accept_confirms, sign_in, sign_out
from tests.factories import METHOD as DESK_METHOD
from tests.factories import PASSWORD, make_user

SHOTS = Path(os.environ.get("REVIEWFLOW_SHOTS") or Path(tempfile.gettempdir()) / "reviewflow-shots")
METHOD = "Licence DO-20417 looked up in the state osteopathic board's public register; active."


def _shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"verification-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _story() -> dict:
    """Noor, unverified; Dana, verified, who approved an article Eli published; a second article to assign."""
    admin = make_user("admin", name="Ada Admin", email="ada@example.org")
    writer = make_user("writer", name="Wren Alder", email="wren@example.org")
    editor = make_user("editor", name="Eli Marsh", email="eli@example.org")
    dana = make_user("reviewer", name="Dana Okafor", email="dana@example.org", credentials="M.D., Ph.D.",
                     specialty="Dermatology", affiliation="Lakeside Skin Clinic")
    noor = make_user("reviewer", name="Noor Haddad", email="noor@example.org", credentials="D.O.",
                     specialty="Dermatology", verified=False)
    live = articles.create_article(writer, TITLE, BODY_1, TOPIC, "First draft")
    articles.submit_article(writer, live)
    reviews.assign_reviewer(editor, live, dana.id)
    db.session.commit()
    reviews.sign_decision(dana, live, 1, "approve", PASSWORD, "Accurate.",
                          checklist=list(current_app.config["REVIEW_CHECKLIST"]))
    db.session.commit()
    publishing.publish_revision(editor, live, 1, "First published.")
    waiting = articles.create_article(writer, "Itchy skin at night", BODY_1, TOPIC, "First draft")
    articles.submit_article(writer, waiting)
    db.session.commit()
    return {"noor": noor.id, "admin": admin.id, "live": live.id, "waiting": waiting.id}


def test_admin_verifies_a_reviewer_through_the_form(page, live_server, live_app, check_a11y):
    ids = _story()
    accept_confirms(page)
    sign_in(page, live_server, "eli@example.org")  # before: the editor cannot pick Noor
    page.goto(f"{live_server.url}/work/articles/{ids['waiting']}/assign")
    noor = page.locator(f"#candidate-{ids['noor']}")
    expect(noor).to_contain_text("Not verified — cannot be assigned until an admin verifies them")
    expect(noor).to_contain_text("Cannot be assigned")
    expect(page.get_by_role("combobox", name="Reviewer").locator(f'option[value="{ids["noor"]}"]')).to_be_disabled()
    _shot(page, "assign-before")
    sign_out(page)

    sign_in(page, live_server, "ada@example.org")
    page.goto(f"{live_server.url}/admin/users/{ids['noor']}")
    expect(page.locator("#verification")).to_contain_text("Noor Haddad cannot be assigned or sign a decision")
    check_a11y(page)
    _shot(page, "admin-before")

    button = page.get_by_role("button", name="Mark credentials verified")
    button.click()  # nothing typed: refused on the page, nothing recorded
    expect(page.locator("#method-error")).to_contain_text("Say how you checked the credentials")
    expect(page.get_by_label("How did you check them?")).to_have_attribute("aria-invalid", "true")
    check_a11y(page)

    page.get_by_label("How did you check them?").fill(METHOD)
    page.get_by_role("button", name="Mark credentials verified").click()
    expect(page.get_by_role("status")).to_contain_text("Noor Haddad's credentials are verified (profile version 2)")
    expect(page.locator("#verification")).to_contain_text("Verified by Ada Admin")
    expect(page.locator("#verification")).to_contain_text(METHOD)
    expect(page.get_by_role("row", name="2 Current")).to_contain_text(f"How: {METHOD}")
    expect(page.get_by_role("button", name="Mark credentials verified")).to_have_count(0)
    check_a11y(page)
    _shot(page, "admin-after")

    db.session.expire_all()
    current = db.session.scalar(select(ReviewerProfile).where(ReviewerProfile.user_id == ids["noor"])
                                .order_by(ReviewerProfile.version.desc()))
    assert (current.version, current.verified_by_id, current.verification_method) == (2, ids["admin"], METHOD)

    sign_out(page)
    sign_in(page, live_server, "eli@example.org")
    page.goto(f"{live_server.url}/work/articles/{ids['waiting']}/assign")
    noor = page.locator(f"#candidate-{ids['noor']}")
    expect(noor).to_contain_text("Credentials verified on")
    expect(noor).to_contain_text("by Ada Admin")
    expect(noor).to_contain_text("Can be assigned")
    expect(page.get_by_role("combobox", name="Reviewer").locator(f'option[value="{ids["noor"]}"]')).to_be_enabled()
    check_a11y(page)
    _shot(page, "assign")

    page.goto(f"{live_server.url}/work/articles/{ids['live']}/versions/1/certificate")
    expect(page.locator(".verification")).to_contain_text("by Credentials Desk")
    expect(page.locator(".verification")).to_contain_text(f"How: {DESK_METHOD}")
    check_a11y(page)
    _shot(page, "certificate")
