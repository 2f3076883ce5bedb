"""The editor assigns reviewers, at laptop and phone widths: the ranked suggestions with their reasons, the
warning (and nobody preselected) when no specialty matches, a deliberate choice outside the specialty, the
best match preselected when there is one; then overdue reviews first on the editor's dashboard and in the
reviewer's queue, marked "Overdue · due 4 Dec 2026".

Screenshots of each screen go to test-artifacts/screenshots/, and also to ``REVIEWFLOW_SHOTS_DIR`` when set.
"""
from __future__ import annotations

import os
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from reviewflow.articles import services as articles
from reviewflow.extensions import db, utcnow
from reviewflow.reviews.models import ReviewAssignment
from reviewflow.textrules import human_date
from tests.browser.helpers import sign_in, sign_out
from tests.browser.test_phone import OFF_SCREEN
from tests.factories import make_article, make_user

WIDTHS = {"laptop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def _world() -> dict:
    """People and articles: Dana (dermatology) has signed one review and has two open, one overdue; Omar
    (pharmacology) has one open; two reviewers cannot serve; two articles wait for a reviewer."""
    writer = make_user("writer", name="Wren Alder", email="wren@example.org")
    editor = make_user("editor", name="Eli Marsh", email="eli@example.org")
    dana = make_user("reviewer", name="Dana Okafor", email="dana@example.org", credentials="M.D., Ph.D.",
                     specialty="Dermatology")
    omar = make_user("reviewer", name="Omar Reyes", email="omar@example.org", credentials="Pharm.D.",
                     specialty="Pharmacology")
    make_user("reviewer", name="Old Licence", credentials="R.N.", specialty="Dermatology", license_expires="2020-01-01")
    make_user("reviewer", name="Hana Ito", credentials="R.D.N.", specialty="Nutrition and Dietetics", verified=False)
    make_article(writer, "approved", reviewer=dana, editor=editor, title="Sun protection for children")
    today = utcnow().date()
    dues = {}
    for title, reviewer, topic, offset in (("Cold sores", dana, "Dermatology", 2),
                                           ("Itchy skin at night", dana, "Dermatology", -3),
                                           ("Ibuprofen or acetaminophen?", omar, "Pharmacology", 10)):
        article = make_article(writer, "in_review", reviewer=reviewer, editor=editor, title=title, topic=topic)
        dues[title] = today + timedelta(days=offset)
        db.session.execute(update(ReviewAssignment).where(ReviewAssignment.article_id == article.id)
                           .values(due_date=dues[title]))
    waiting = {}
    for title, topic in (("Heart-healthy breakfasts", "Cardiology"), ("Eczema in winter", "Dermatology")):
        article = articles.create_article(writer, title, "Oats, fruit and nuts.\n", topic)
        articles.submit_article(writer, article)
        waiting[title] = article.id
    db.session.commit()
    return {"dana": dana.id, "omar": omar.id, "dues": dues, **waiting}


@pytest.fixture
def save(shot):
    """``save(page, name)``: the screenshot as a test artifact, and in ``REVIEWFLOW_SHOTS_DIR`` when set."""
    where = os.environ.get("REVIEWFLOW_SHOTS_DIR")

    def _save(page, name: str) -> None:
        path = shot(page, name)
        if where:
            Path(where).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(where) / f"{name}.png")

    return _save


def _fits(page) -> None:
    assert page.evaluate(OFF_SCREEN) == [], page.url


@pytest.mark.parametrize("width", list(WIDTHS))
def test_editor_assigns_with_ranked_reasons_and_a_warning_when_nobody_matches(
        width, browser, live_server, live_app, check_a11y, save):
    world = _world()
    context = browser.new_context(viewport=WIDTHS[width], locale="en-GB", timezone_id="Europe/Berlin",
                                  is_mobile=width == "phone", has_touch=width == "phone")
    page = context.new_page()
    late, soon = world["dues"]["Itchy skin at night"], world["dues"]["Cold sores"]

    # The dashboard: reviews in progress, the overdue one first and marked.
    sign_in(page, live_server, "eli@example.org")
    progress = page.locator("table", has=page.locator("caption", has_text="Open reviews of every reviewer"))
    rows = progress.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("Itchy skin at night")
    expect(rows.nth(0)).to_contain_text(f"Overdue · due {human_date(late)}")
    expect(rows.nth(1)).to_contain_text(f"Due soon · due {human_date(soon)}")
    expect(page.get_by_role("navigation", name="At a glance")).to_contain_text("Reviews overdue 1")
    _fits(page)
    check_a11y(page)
    save(page, f"editor-dashboard-{width}")

    # Nobody matches the topic: a warning, nobody preselected, the reasons of the ranking in the list.
    page.goto(f"{live_server.url}/work/articles/{world['Heart-healthy breakfasts']}/assign")
    warning = page.locator("#no-match-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("No reviewer's specialty matches the topic “Cardiology”")
    expect(warning).to_contain_text("Nobody is preselected")
    reviewer = page.get_by_role("combobox", name="Reviewer")
    assert reviewer.input_value() == ""
    options = reviewer.locator("option")
    expect(options.nth(1)).to_have_text("Omar Reyes, Pharm.D. · Pharmacology · 1 open review · no signed reviews yet")
    expect(options.nth(2)).to_have_text("Dana Okafor, M.D., Ph.D. · Dermatology · 2 open reviews · "
                                        "usually within a day")
    expect(reviewer.locator("option[disabled]")).to_have_count(2)
    cards = page.locator("ol.candidates > li")
    expect(cards.nth(0)).to_contain_text("Omar Reyes")
    expect(cards.nth(0)).to_contain_text("Pharmacology · 1 open review · no signed reviews yet")
    expect(page.locator("ol.candidates")).not_to_contain_text("Suggested")
    _fits(page)
    check_a11y(page)
    save(page, f"assign-no-match-{width}")

    # Sending without a choice is refused beside the field; a deliberate choice outside the specialty works.
    page.get_by_role("button", name="Assign reviewer").click()
    expect(page.locator("#reviewer-error")).to_contain_text("Choose a reviewer.")
    page.get_by_role("combobox", name="Reviewer").select_option(str(world["omar"]))
    page.get_by_role("button", name="Assign reviewer").click()
    expect(page.get_by_role("status")).to_contain_text("Omar Reyes, Pharm.D. is assigned to review")
    expect(page.get_by_role("status")).to_contain_text("outside the topic “Cardiology”")

    # A matching reviewer is preselected and marked, though busier.
    page.goto(f"{live_server.url}/work/articles/{world['Eczema in winter']}/assign")
    expect(page.locator("#no-match-warning")).to_have_count(0)
    assert page.get_by_role("combobox", name="Reviewer").input_value() == str(world["dana"])
    expect(page.locator("ol.candidates > li").nth(0)).to_contain_text("Suggested")
    expect(page.locator("ol.candidates > li").nth(0)).to_contain_text(
        "Dermatology · matches topic · 2 open reviews · usually within a day")
    _fits(page)
    check_a11y(page)
    save(page, f"assign-match-{width}")

    # The reviewer's queue: overdue first.
    sign_out(page)
    sign_in(page, live_server, "dana@example.org")
    page.goto(f"{live_server.url}/reviews")
    queue = page.locator("table", has=page.locator("caption", has_text="Your open review assignments"))
    expect(queue.locator("tbody tr").nth(0)).to_contain_text("Itchy skin at night")
    expect(queue.locator("tbody tr").nth(0)).to_contain_text(re.compile(rf"Overdue · due {human_date(late)}"))
    expect(queue.locator("tbody tr").nth(1)).to_contain_text(f"Due soon · due {human_date(soon)}")
    _fits(page)
    check_a11y(page)
    save(page, f"reviewer-queue-{width}")
    context.close()
