"""Shared pieces of the browser journeys: signing in and out, and the story's data built through the services.

``build(stage)`` walks one article through the real services (the same calls the pages make) up to
the stage a journey starts from, so each journey is its own test and still tells one story:
Wren drafts "Eczema in winter", Eli assigns Dr Dana Okafor, Dana annotates and requests changes,
Wren revises, Dana approves, Eli publishes. Call it inside the live app's app context (the
``live_app`` fixture holds one).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app

from reviewflow.articles import services as articles
from reviewflow.extensions import db, utcnow
from reviewflow.publishing import services as publishing
from reviewflow.reviews import services as reviews
from tests.factories import PASSWORD, make_user

#: The sentence the reviewer annotates; revision 2 keeps it word for word, so the annotation follows it.
QUOTE = "Moisturize within three minutes of bathing."
TITLE = "Eczema in winter"
TOPIC = "Dermatology"
BODY_1 = f"""Cold air and low humidity dry the skin barrier. {QUOTE} Thick, fragrance-free creams keep water in.

## What helps

- Short lukewarm showers instead of long hot baths.
- Cotton layers next to the skin; wool can trigger itching.
- A humidifier in the bedroom during the heating season.

The [American Academy of Dermatology](https://www.aad.org/public/diseases/eczema) explains more.
"""
#: Revision 2: one sentence added after the quote, which stays exactly as it was.
ADDED = "Pat the skin dry with a towel rather than rubbing it."
BODY_2 = BODY_1.replace(QUOTE, f"{QUOTE} {ADDED}")
COMMENT = "Cite a source for the three-minute window."
REPLY = "Added a source: the AAD guidance on bathing."
STAGES = ("people", "submitted", "in_review", "changes_requested", "resubmitted", "approved", "published")


@dataclass
class Story:
    """The people and the article of the journeys (ids and plain values only: safe across sessions)."""

    writer_email: str = "wren@example.org"
    editor_email: str = "eli@example.org"
    reviewer_email: str = "dana@example.org"
    other_reviewer_email: str = "omar@example.org"
    reviewer_id: int = 0
    article_id: int | None = None
    slug: str | None = None
    annotation_id: int | None = None

    def url(self, server, path: str = "") -> str:
        """The staff URL of the article, e.g. ``story.url(server, "/review")``."""
        return f"{server.url}/work/articles/{self.article_id}{path}"


def build(stage: str) -> Story:
    """People, and the article walked through the services up to ``stage`` (one of ``STAGES``)."""
    assert stage in STAGES, stage
    reached = STAGES.index(stage)
    story = Story()
    writer = make_user("writer", name="Wren Alder", email=story.writer_email)
    editor = make_user("editor", name="Eli Marsh", email=story.editor_email)
    reviewer = make_user("reviewer", name="Dana Okafor", email=story.reviewer_email, credentials="M.D., Ph.D.",
                         specialty="Dermatology", affiliation="Lakeside Skin Clinic")
    make_user("reviewer", name="Omar Reyes", email=story.other_reviewer_email, credentials="Pharm.D.",
              specialty="Pharmacology")
    story.reviewer_id = reviewer.id
    if reached == 0:
        return story
    article = articles.create_article(writer, TITLE, BODY_1, TOPIC, "First draft")
    articles.submit_article(writer, article)
    db.session.commit()
    story.article_id, story.slug = article.id, article.slug
    steps = [
        lambda: reviews.assign_reviewer(editor, article, reviewer.id, utcnow().date() + timedelta(days=5)),
        lambda: _request_changes(story, article, reviewer),
        lambda: _revise_and_resubmit(story, article, writer),
        lambda: _resolve_and_approve(story, article, reviewer),
        lambda: publishing.publish_revision(editor, article, 2, "First published."),
    ]
    for step in steps[:reached - 1]:
        step()
        db.session.commit()
    return story


def _request_changes(story: Story, article, reviewer) -> None:
    ann = reviews.add_annotation(reviewer, article, 1, QUOTE, COMMENT, True)
    story.annotation_id = ann.id
    reviews.sign_decision(reviewer, article, 1, "request_changes", PASSWORD, "Please add a source for the timing.")


def _revise_and_resubmit(story: Story, article, writer) -> None:
    ann = reviews.get_annotation(story.annotation_id)
    reviews.reply_to_annotation(writer, ann, REPLY)
    articles.save_revision(writer, article, TITLE, BODY_2, 1, "Added the drying step and a source.")
    articles.submit_article(writer, article)


def _resolve_and_approve(story: Story, article, reviewer) -> None:
    """The blocking annotation is the reviewer's to resolve; then they approve."""
    reviews.set_annotation_status(reviewer, reviews.get_annotation(story.annotation_id), "resolved")
    reviews.sign_decision(reviewer, article, 2, "approve", PASSWORD, "Accurate and well sourced.",
                          checklist=list(current_app.config["REVIEW_CHECKLIST"]))


def sign_in(page, server, email: str, password: str = PASSWORD) -> None:
    """Log in through the form and land on the dashboard."""
    page.goto(server.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard")


def sign_out(page) -> None:
    """Log out with the header's button and land on the log-in page."""
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")


def accept_confirms(page) -> None:
    """Say yes to every ``data-confirm`` question: app.js asks it in a modal ``<dialog>``, which Playwright
    answers here (by clicking its confirm button) before its next action or assertion."""
    dialog = page.locator("dialog.confirm-dialog[open]")
    page.add_locator_handler(dialog, lambda found: found.locator("[data-go]").click())


def confirm_dialog(page, expect_text: str | None = None) -> None:
    """Answer the confirmation dialog that the last click opened with its confirm button."""
    dialog = page.locator("dialog.confirm-dialog[open]")
    dialog.wait_for()
    if expect_text:
        assert expect_text in dialog.inner_text()
    dialog.locator("[data-go]").click()
