"""Irreversible actions are confirmed in the page's own modal dialog, never the browser's confirm().

The writer submits a demo draft: the dialog names the action and says what it does; Cancel and
Escape leave the article a draft, Confirm submits it, and no native dialog is ever opened.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from reviewflow.articles.models import Article, ArticleState
from reviewflow.demo_content import PEOPLE
from reviewflow.extensions import db
from tests.browser.helpers import sign_in

pytestmark = pytest.mark.allow_lazy_load  # the demo seeding loads lazily, as `flask seed-demo` does


def _a_draft(live_app) -> tuple[int, str]:
    """The demo draft and its writer's e-mail."""
    from reviewflow.auth.models import User

    with live_app.app_context():
        article_id, email = db.session.execute(
            select(Article.id, User.email).join(User, User.id == Article.writer_id)
            .where(Article.state == ArticleState.DRAFT.value).limit(1)).one()
        db.session.remove()
    return article_id, email


def _status(live_app, article_id: int) -> str:
    with live_app.app_context():
        status = db.session.get(Article, article_id).state
        db.session.remove()
    return str(getattr(status, "value", status))


def test_submitting_asks_in_a_dialog_that_cancel_and_escape_dismiss(demo_server, live_app, page):
    server, _ = demo_server
    native: list[str] = []
    page.on("dialog", lambda d: (native.append(d.message), d.dismiss()))
    article_id, writer = _a_draft(live_app)
    sign_in(page, server, writer, PEOPLE[0]["password"])
    page.goto(f"{server.url}/work/articles/{article_id}")

    submit = page.get_by_role("button", name="Submit for review")
    dialog = page.get_by_role("dialog")
    submit.click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Submit this revision for medical review?")
    expect(dialog.get_by_role("button", name="Submit for review")).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert _status(live_app, article_id) == "draft"

    submit.click()
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert _status(live_app, article_id) == "draft"

    submit.click()
    dialog.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_role("status")).to_contain_text("Submitted for review")
    assert _status(live_app, article_id) == "submitted"
    assert native == [], "the browser's own confirm() was used"


def test_a_danger_action_gets_a_danger_button(demo_server, live_app, page):
    """Withdrawing a reviewer (danger) shows a red confirm button; submitting shows the primary one."""
    server, _ = demo_server
    editor = next(p["email"] for p in PEOPLE if "editor" in p["roles"])
    sign_in(page, server, editor, PEOPLE[0]["password"])
    with live_app.app_context():
        from reviewflow.reviews.models import ReviewAssignment

        article_id = db.session.scalar(select(ReviewAssignment.article_id).limit(1))
        db.session.remove()
    page.goto(f"{server.url}/work/articles/{article_id}/assign")
    page.get_by_role("button", name="Withdraw").first.click()
    go = page.locator("dialog.confirm-dialog[open] [data-go]")
    expect(go).to_have_class("btn btn-danger")
    page.keyboard.press("Escape")
