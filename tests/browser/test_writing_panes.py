"""The writer's editor beside its preview: panes, the title in the preview, annotations marked in it.

On the demo article where a reviewer requested changes (two open annotations), as its writer:
at laptop width the editor and the preview stand side by side and the tabs choose the right-hand
pane; the preview shows the title as typed; each open annotation's quote is marked in the preview,
and "Show in the preview" from a note selects the preview and highlights its mark. On a phone, one
pane at a time.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from reviewflow.articles.models import Article, ArticleState
from reviewflow.auth.models import User
from reviewflow.demo_content import PEOPLE
from reviewflow.extensions import db
from tests.browser.helpers import sign_in

pytestmark = pytest.mark.allow_lazy_load  # the demo seeding loads lazily, as `flask seed-demo` does


def _asked(live_app) -> tuple[int, str]:
    with live_app.app_context():
        article_id, email = db.session.execute(
            select(Article.id, User.email).join(User, User.id == Article.writer_id)
            .where(Article.state == ArticleState.CHANGES_REQUESTED.value).limit(1)).one()
        db.session.remove()
    return article_id, email


def test_laptop_editor_beside_preview_with_title_and_marked_annotations(demo_server, live_app, page, shot, check_a11y):
    server, _ = demo_server
    article_id, writer = _asked(live_app)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, server, writer, PEOPLE[0]["password"])
    page.goto(f"{server.url}/work/articles/{article_id}/edit")

    write, preview = page.locator("#write-pane"), page.locator("#preview-pane")
    expect(preview).to_be_visible()
    assert preview.bounding_box()["x"] >= write.bounding_box()["x"] + write.bounding_box()["width"]
    expect(page.get_by_role("tab", name="Write")).to_be_hidden()

    # The title in the preview follows the title field.
    page.get_by_label("Title").fill("Allergy medicines, compared")
    expect(page.locator("#preview-title")).to_have_text("Allergy medicines, compared")

    # Both open annotations are marked in the preview, the blocking one as blocking.
    marks = page.locator("#preview mark.annotation[id^=preview-annotation-]")
    expect(marks).to_have_count(2)
    expect(page.locator("#preview mark.annotation.blocking")).not_to_have_count(0)
    check_a11y(page)

    # From a note to its mark: the tab switches back to the preview and the mark is highlighted.
    page.get_by_role("tab", name="Notes (2)").click()
    expect(preview).to_be_hidden()
    expect(page.locator("#write-pane")).to_be_visible()
    page.get_by_role("link", name="Show in the preview").first.click()
    expect(preview).to_be_visible()
    expect(page.locator("#preview mark.annotation.active").first).to_be_in_viewport()
    shot(page, "side-by-side")

    # From a mark back to its note.
    marks.first.click()
    expect(page.locator("#notes-pane")).to_be_visible()


def test_phone_one_pane_at_a_time(demo_server, live_app, page, shot):
    server, _ = demo_server
    article_id, writer = _asked(live_app)
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, server, writer, PEOPLE[0]["password"])
    page.goto(f"{server.url}/work/articles/{article_id}/edit")
    write, preview, notes = page.locator("#write-pane"), page.locator("#preview-pane"), page.locator("#notes-pane")
    expect(write).to_be_visible()
    expect(preview).to_be_hidden()
    expect(notes).to_be_hidden()
    page.get_by_role("tab", name="Preview").click()
    expect(preview).to_be_visible()
    expect(write).to_be_hidden()
    expect(page.get_by_role("tab", name="Preview")).to_have_attribute("aria-selected", "true")
    # Arrow keys move between tabs, as in any tab list.
    page.get_by_role("tab", name="Preview").press("ArrowRight")
    expect(notes).to_be_visible()
    expect(page.get_by_role("tab", name="Notes (2)")).to_be_focused()
    shot(page, "phone-notes")
