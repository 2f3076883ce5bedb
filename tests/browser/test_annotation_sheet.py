"""Annotating where the selection is: the form opens as a sheet over the page when it is out of sight.

On a phone the annotate form sits below the whole text; on a laptop the side panel scrolls with the
text. Either way, selecting words far down the article opens the form as a sheet on screen, with the
focus in its comment box, and the annotation is saved from there.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from reviewflow.articles.models import Article, ArticleState
from reviewflow.auth.models import User
from reviewflow.demo_content import PEOPLE
from reviewflow.extensions import db
from reviewflow.reviews.models import AssignmentStatus, ReviewAssignment
from tests.browser.helpers import sign_in

pytestmark = pytest.mark.allow_lazy_load  # the demo seeding loads lazily, as `flask seed-demo` does

SELECT_LAST_PARAGRAPH = """() => {
  const paragraphs = document.querySelectorAll('[data-annotate-root] p');
  const last = paragraphs[paragraphs.length - 1];
  last.scrollIntoView({block: 'end'});
  const text = last.firstChild;
  const range = document.createRange();
  range.setStart(text, 0);
  range.setEnd(text, Math.min(24, text.length));
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  document.dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
  return range.toString().trim();
}"""


def _reviewing(live_app) -> tuple[int, str]:
    with live_app.app_context():
        article_id, email = db.session.execute(
            select(Article.id, User.email)
            .join(ReviewAssignment, ReviewAssignment.article_id == Article.id)
            .join(User, User.id == ReviewAssignment.reviewer_id)
            .where(Article.state == ArticleState.IN_REVIEW.value,
                   ReviewAssignment.status == AssignmentStatus.PENDING).limit(1)).one()
        db.session.remove()
    return article_id, email


@pytest.mark.parametrize("width", [390, 1280])
def test_selecting_far_down_opens_the_form_on_screen(demo_server, live_app, page, shot, width):
    server, _ = demo_server
    article_id, reviewer = _reviewing(live_app)
    page.set_viewport_size({"width": width, "height": 600})
    sign_in(page, server, reviewer, PEOPLE[0]["password"])
    page.goto(f"{server.url}/work/articles/{article_id}/review")
    sheet = page.locator("#annotate-section")
    expect(sheet).not_to_have_class("annotate-sheet sheet-open")

    quote = page.evaluate(SELECT_LAST_PARAGRAPH)
    expect(sheet).to_have_class("annotate-sheet sheet-open")
    comment = page.locator("#comment")
    expect(comment).to_be_focused()
    expect(comment).to_be_in_viewport()
    expect(page.locator("#quote")).to_have_value(quote)
    shot(page, f"sheet-{width}", full_page=False)

    page.keyboard.type("Please cite a source for this.")
    sheet.get_by_role("button", name="Add annotation").click()
    expect(page.get_by_role("status")).to_contain_text("Annotation added")
    expect(page.locator(".annotation-list")).to_contain_text("Please cite a source for this.")


def test_the_sheet_closes_with_escape_and_its_button(demo_server, live_app, page):
    server, _ = demo_server
    article_id, reviewer = _reviewing(live_app)
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, server, reviewer, PEOPLE[0]["password"])
    page.goto(f"{server.url}/work/articles/{article_id}/review")
    sheet = page.locator("#annotate-section")
    page.evaluate(SELECT_LAST_PARAGRAPH)
    expect(sheet).to_have_class("annotate-sheet sheet-open")
    page.keyboard.press("Escape")
    expect(sheet).to_have_class("annotate-sheet")
    page.evaluate("() => window.getSelection().removeAllRanges()")
    page.evaluate(SELECT_LAST_PARAGRAPH.replace("Math.min(24", "Math.min(12"))
    expect(sheet).to_have_class("annotate-sheet sheet-open")
    sheet.get_by_role("button", name="Close").click()
    expect(sheet).to_have_class("annotate-sheet")
