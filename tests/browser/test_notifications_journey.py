"""The notifications page and the e-mail preference, in Chromium at laptop (1280 px) and phone (390 px) widths.

Wren's reviewer annotates "Eczema in winter" twice, answers herself and asks for changes; another
article gets one annotation. Wren sees one group per article with the comments beneath, marks one
group read, then chooses the daily digest on her preferences page. Each width is screenshotted
(test-artifacts/screenshots/) and checked for controls off-screen and with axe-core.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from reviewflow.articles import services as articles
from reviewflow.articles.models import Article
from reviewflow.auth.models import User
from reviewflow.extensions import db
from reviewflow.notifications.services import email_mode
from reviewflow.reviews import services as reviews
from tests.browser.helpers import BODY_1, COMMENT, QUOTE, build, sign_in
from tests.browser.test_phone import _problems
from tests.factories import PASSWORD

pytestmark = pytest.mark.allow_lazy_load  # the story is built through the services, as the pages do

WIDTHS = {"laptop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def _story(live_app):
    with live_app.app_context():
        story = build("in_review")
        reviewer = db.session.get(User, story.reviewer_id)
        writer = db.session.scalar(select(User).where(User.email == story.writer_email))
        eczema = db.session.get(Article, story.article_id)
        first = reviews.add_annotation(reviewer, eczema, 1, QUOTE, COMMENT, True)
        reviews.add_annotation(reviewer, eczema, 1, "Thick, fragrance-free creams", "Name one or two examples.")
        db.session.commit()
        reviews.reply_to_annotation(reviewer, first, "The AAD page on bathing would do.")
        reviews.sign_decision(reviewer, eczema, 1, "request_changes", PASSWORD,
                              "Please add a source for the timing, and examples of creams.")
        db.session.commit()
        sun = articles.create_article(writer, "Sun protection for children", BODY_1, "Dermatology")
        articles.submit_article(writer, sun)
        reviews.assign_reviewer(db.session.scalar(select(User).where(User.email == story.editor_email)), sun,
                                reviewer.id)
        db.session.commit()
        reviews.add_annotation(reviewer, sun, 1, "Cotton layers", "Add a line on sun hats.")
        db.session.commit()
        db.session.remove()
    return story


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_notifications_grouped_by_article_and_the_email_choice(width, live_app, live_server, browser, shot,
                                                               check_a11y):
    story = _story(live_app)
    context = browser.new_context(viewport=WIDTHS[width], locale="en-GB", timezone_id="Europe/Berlin",
                                  is_mobile=width == "phone", has_touch=width == "phone")
    page = context.new_page()
    sign_in(page, live_server, story.writer_email)
    page.get_by_role("link", name="All notifications").click()
    page.wait_for_url("**/notifications")

    groups = page.locator(".notification-group")
    assert groups.count() == 2
    newest, eczema = groups.nth(0), groups.nth(1)
    assert "1 new on ‘Sun protection for children’: 1 annotation" in newest.locator("h2").inner_text()
    assert ("4 new on ‘Eczema in winter’: 2 annotations, 1 reply, 1 request for changes"
            in eczema.locator("h2").inner_text())
    for comment in (COMMENT, "Name one or two examples.", "The AAD page on bathing would do.",
                    "Please add a source for the timing, and examples of creams."):
        assert eczema.get_by_text(comment).is_visible()
    assert page.get_by_text("5 unread").is_visible()
    assert _problems(page) == []
    check_a11y(page)
    shot(page, f"{width}-notifications")

    eczema.get_by_role("button", name="Mark read").click()
    page.wait_for_url("**/notifications")
    assert page.get_by_text("4 notifications marked as read.").is_visible()
    eczema = page.locator(".notification-group").nth(1)
    assert eczema.locator("h2").inner_text().startswith("‘Eczema in winter’:")
    assert eczema.locator(".badge", has_text="New").count() == 0
    assert page.locator(".notification-group").nth(0).locator(".badge", has_text="New").count() == 1
    assert page.get_by_text("1 unread").is_visible()
    shot(page, f"{width}-notifications-one-read")

    page.get_by_role("link", name="change e-mail preferences").click()
    page.wait_for_url("**/account/preferences")
    assert page.get_by_label("Hourly digest", exact=True).is_checked()
    assert _problems(page) == []
    check_a11y(page)
    page.get_by_label("Daily digest", exact=True).check()
    page.get_by_role("button", name="Save e-mail choice").click()
    page.wait_for_url("**/account/preferences")
    assert page.get_by_text("You get one digest e-mail each morning").is_visible()
    assert page.get_by_label("Daily digest", exact=True).is_checked()
    shot(page, f"{width}-preferences")
    context.close()
    with live_app.app_context():
        writer = db.session.scalar(select(User).where(User.email == story.writer_email))
        assert email_mode(writer) == "daily"
        db.session.remove()
