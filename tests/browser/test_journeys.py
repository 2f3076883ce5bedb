"""The journeys of PRODUCT.md in a real browser, each from log-in to a checked result on screen.

One story in seven steps (see ``helpers.build``): each journey is its own test, starting from the
data the previous steps would have left, built through the services. Every page visited is
checked with axe-core (no serious or critical violation) and its key screens are saved as
screenshots under test-artifacts/.
"""
from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from reviewflow.articles.models import Article
from reviewflow.auth.models import User
from reviewflow.auth.services import with_roles
from reviewflow.extensions import db
from reviewflow.reviews import services as reviews
from reviewflow.reviews.models import Annotation, Decision
from tests.browser.helpers import (
    ADDED,
    BODY_2,
    COMMENT,
    QUOTE,
    REPLY,
    TITLE,
    accept_confirms,
    build,
    sign_in,
    sign_out,
)
from tests.factories import make_article

DRAFT = """Children burn faster than adults: their skin is thinner.

## Before going out

- Apply a broad-spectrum SPF 30 sunscreen.
- Reapply every two hours and after swimming.

Read the [WHO guidance on sun protection](https://www.who.int/news-room/questions-and-answers/item/radiation-ultraviolet-(uv)-index).
"""
SECOND_SENTENCE = "Shade and hats come first for babies under six months."


def _state_badge(page, label: str):
    return expect(page.locator(".page-header .badge").first).to_have_text(label)


def _fresh(model, **where):
    """A row as the database holds it now (the live server commits in its own session)."""
    db.session.expire_all()
    return db.session.scalars(select(model).filter_by(**where)).all()


# 1 ---------------------------------------------------------------------------------------------

def test_writer_drafts_previews_saves_twice_compares_and_submits(page, live_server, live_app, shot,
                                                                check_a11y):
    story = build("people")
    accept_confirms(page)
    sign_in(page, live_server, story.writer_email)
    check_a11y(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New article").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Start an article")
    check_a11y(page)

    page.get_by_label("Title").fill("Sun protection for children")
    page.get_by_label("Topic").fill("Dermatology")
    page.locator("#body").fill(DRAFT)
    preview = page.locator("#preview")
    expect(preview.get_by_role("heading", level=2)).to_have_text("Before going out")
    expect(preview.locator("ul > li")).to_have_count(2)
    expect(preview.get_by_role("link", name="WHO guidance on sun protection")).to_have_attribute(
        "href", re.compile(r"^https://www\.who\.int/"))
    page.locator("#note").fill("First draft")
    shot(page, "editor-with-preview")
    page.get_by_role("button", name="Save draft").click()

    expect(page.get_by_role("status")).to_contain_text("saved as a draft (revision 1)")
    _state_badge(page, "Draft")
    check_a11y(page)
    page.get_by_role("link", name="Edit", exact=True).click()
    check_a11y(page)
    body = page.locator("#body")
    body.fill(body.input_value().replace("thinner.", f"thinner. {SECOND_SENTENCE}"))
    page.locator("#note").fill("Added advice for babies")
    page.get_by_role("button", name="Save revision 2").click()
    expect(page.get_by_role("status")).to_contain_text("Revision 2 is saved.")

    page.get_by_role("link", name="History").click()
    check_a11y(page)
    shot(page, "history")
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Changes from revision 1 to 2")
    expect(page.locator(".diff ins").first).to_contain_text("babies")
    check_a11y(page)
    shot(page, "diff")
    page.get_by_role("link", name="Side by side").click()
    expect(page.locator("table.diff-table")).to_be_visible()
    check_a11y(page)

    page.get_by_role("link", name="Sun protection for children").first.click()
    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_role("status")).to_contain_text("waits for an editor to assign a medical reviewer")
    _state_badge(page, "Submitted")
    check_a11y(page)
    shot(page, "submitted")
    assert [a.state for a in _fresh(Article, title="Sun protection for children")] == ["submitted"]


# 2 ---------------------------------------------------------------------------------------------

def test_editor_assigns_a_matching_reviewer_with_a_due_date(page, live_server, live_app, shot, check_a11y):
    story = build("submitted")
    sign_in(page, live_server, story.editor_email)
    check_a11y(page)
    shot(page, "dashboard")
    page.get_by_role("link", name=f"Assign reviewer to “{TITLE}”").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Reviewers of “{TITLE}”")
    check_a11y(page)
    reviewer = page.get_by_role("combobox", name="Reviewer")
    matching = reviewer.locator("option", has_text="matches topic")
    expect(matching).to_have_count(1)
    expect(matching).to_contain_text("Dana Okafor")
    reviewer.select_option(matching.get_attribute("value"))
    page.get_by_label("Due date").fill("2031-03-14")
    shot(page, "assign-form")
    page.get_by_role("button", name="Assign reviewer").click()

    expect(page.get_by_role("status")).to_contain_text("is assigned to review “Eczema in winter”, due 14 Mar 2031")
    row = page.get_by_role("row", name=re.compile("Dana Okafor"))
    expect(row).to_contain_text("Pending")
    expect(row.locator('time[datetime="2031-03-14"]')).to_have_text("14 Mar 2031")
    _state_badge(page, "In review")
    check_a11y(page)
    shot(page, "assigned")


# 3 ---------------------------------------------------------------------------------------------

def _drag_select(page, root, text: str) -> None:
    """Select ``text`` inside ``root`` by dragging the mouse from its first to its last character."""
    box = root.evaluate(
        """(root, text) => {
            const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                const at = node.data.indexOf(text);
                if (at < 0) continue;
                const range = document.createRange();
                range.setStart(node, at);
                range.setEnd(node, at + text.length);
                const rects = range.getClientRects();
                const first = rects[0], last = rects[rects.length - 1];
                return {x1: first.left + 1, y1: first.top + first.height / 2,
                        x2: last.right - 1, y2: last.top + last.height / 2};
            }
            return null;
        }""", text)
    assert box, f"{text!r} is not on the page"
    page.mouse.move(box["x1"], box["y1"])
    page.mouse.down()
    page.mouse.move((box["x1"] + box["x2"]) / 2, box["y2"], steps=5)
    page.mouse.move(box["x2"], box["y2"], steps=5)
    page.mouse.up()


def test_reviewer_selects_a_sentence_annotates_and_requests_changes(page, live_server, live_app, shot,
                                                                  check_a11y):
    story = build("in_review")
    sign_in(page, live_server, story.reviewer_email)
    check_a11y(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reviews").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your reviews")
    check_a11y(page)
    shot(page, "queue")
    page.get_by_role("link", name=TITLE).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    check_a11y(page)

    text = page.locator("[data-annotate-root]")
    text.scroll_into_view_if_needed()
    _drag_select(page, text, QUOTE)
    expect(page.locator("#quote")).to_have_value(QUOTE)
    expect(page.locator("#selection-status")).to_contain_text(QUOTE)
    expect(page.locator("#comment")).to_be_focused()
    assert page.locator("#prefix").input_value().endswith("skin barrier. ")
    assert page.locator("#suffix").input_value().startswith(" Thick")
    page.keyboard.type(COMMENT)
    page.get_by_role("checkbox", name="Blocking").check()
    shot(page, "selected")
    page.get_by_role("button", name="Add annotation").click()

    expect(page.get_by_role("status")).to_contain_text("Annotation added as blocking")
    item = page.locator(".annotation-list > li").filter(has_text=COMMENT)
    expect(item).to_contain_text("Blocking")
    expect(item.locator("blockquote")).to_have_text(QUOTE)
    expect(text.locator("mark")).to_have_text(QUOTE)
    item.get_by_role("button", name="Show in text").click()
    expect(text.locator("mark.active")).to_have_count(1)
    check_a11y(page)
    shot(page, "annotated")

    page.get_by_role("link", name="Request changes").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Request changes on revision 1")
    check_a11y(page)
    page.get_by_label("Changes requested").fill("Please add a source for the timing.")
    page.get_by_label("Password").fill("Corr3ct-Horse-Battery")
    shot(page, "sign-request-changes")
    page.get_by_role("button", name="Sign and request changes").click()

    expect(page.get_by_role("status")).to_contain_text("You requested changes on revision 1")
    _state_badge(page, "Changes requested")
    expect(page.get_by_role("table").filter(has_text="Requested changes")).to_contain_text("Dana Okafor")
    check_a11y(page)
    shot(page, "changes-requested")
    decisions = _fresh(Decision, article_id=story.article_id)
    assert [(d.decision, d.revision_number) for d in decisions] == [("request_changes", 1)]


# 4 ---------------------------------------------------------------------------------------------

def test_writer_replies_revises_sees_the_annotation_follow_resolves_and_resubmits(page, live_server, live_app, shot,
                                                                                 check_a11y):
    story = build("changes_requested")
    accept_confirms(page)
    sign_in(page, live_server, story.writer_email)
    expect(page.locator("main")).to_contain_text(TITLE)
    check_a11y(page)
    page.goto(story.url(live_server))
    _state_badge(page, "Changes requested")
    check_a11y(page)
    page.get_by_role("link", name="Open the review page").click()
    item = page.locator(f"#annotation-{story.annotation_id}")
    item.locator("summary", has_text="Reply").click()
    item.get_by_label("Your reply").fill(REPLY)
    item.get_by_role("button", name="Send reply").click()
    expect(page.get_by_role("status")).to_contain_text("Reply added.")
    expect(item.locator(".annotation-replies")).to_contain_text(REPLY)
    check_a11y(page)

    page.goto(story.url(live_server, "/edit"))
    expect(page.locator("aside")).to_contain_text(COMMENT)
    check_a11y(page)
    page.locator("#body").fill(BODY_2)
    page.locator("#note").fill("Added the drying step and a source.")
    shot(page, "revising")
    page.get_by_role("button", name="Save revision 2").click()
    expect(page.get_by_role("status")).to_contain_text("Revision 2 is saved.")

    page.get_by_role("link", name="Open the review page").click()
    expect(page.get_by_role("heading", name="Needs attention")).to_have_count(0)
    expect(item).to_contain_text(COMMENT)
    expect(item).not_to_contain_text("Quote not found")
    expect(page.locator("[data-annotate-root] mark")).to_have_text(QUOTE)
    expect(page.locator("[data-annotate-root]")).to_contain_text(ADDED)
    shot(page, "reanchored")
    # A blocking annotation is the reviewer's to resolve: the writer answers it and is offered no Resolve.
    expect(item.get_by_role("button", name="Resolve")).to_have_count(0)

    page.get_by_role("link", name="Article page").click()
    expect(page.get_by_role("alert").or_(page.locator(".alert-info"))).to_contain_text("Revision 2 is saved")
    # Resubmitting is a step of its own: what was asked, the writer's replies, then the button.
    page.get_by_role("link", name="Resubmit for review…").click()
    expect(page.get_by_role("heading", name="Still open (1)")).to_be_visible()
    expect(page.locator(".annotation-summary")).to_contain_text(COMMENT)
    expect(page.locator(".annotation-summary")).to_contain_text(REPLY)
    check_a11y(page)
    shot(page, "resubmit-step")
    page.get_by_role("button", name="Resubmit revision 2").click()
    expect(page.get_by_role("status")).to_contain_text("is with its reviewers")
    _state_badge(page, "In review")
    check_a11y(page)
    shot(page, "resubmitted")
    (ann,) = _fresh(Annotation, id=story.annotation_id)
    assert (ann.status, ann.anchored_revision, ann.orphaned) == ("open", 2, False)


# 5 ---------------------------------------------------------------------------------------------

def test_reviewer_reviews_the_changes_ticks_the_checklist_and_approves(page, live_server, live_app, shot,
                                                                     check_a11y):
    story = build("resubmitted")
    sign_in(page, live_server, story.reviewer_email)
    page.goto(story.url(live_server, "/review"))
    check_a11y(page)
    page.get_by_role("link", name=re.compile("Changes since your last review")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Changes from revision 1 to 2")
    expect(page.locator(".diff ins")).to_contain_text("Pat the skin dry")
    check_a11y(page)
    shot(page, "changes-since-last-review")
    page.go_back()
    item = page.locator(f"#annotation-{story.annotation_id}")
    item.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("status")).to_contain_text("Annotation resolved.")
    expect(item).to_contain_text("Resolved by Dana Okafor")

    page.get_by_role("link", name="Approve…").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Approve revision 2")
    check_a11y(page)
    checklist = page.get_by_role("group", name="Review checklist").get_by_role("checkbox")
    expect(checklist).to_have_count(4)
    for box in checklist.all():
        box.check()
    page.get_by_label("Password").fill("Corr3ct-Horse-Battery")
    shot(page, "sign-approval")
    page.get_by_role("button", name="Sign and approve").click()

    expect(page.get_by_role("status")).to_contain_text("You approved revision 2. Every reviewer has approved it")
    _state_badge(page, "Approved")
    check_a11y(page)
    shot(page, "approved")
    (approval,) = [d for d in _fresh(Decision, article_id=story.article_id) if d.decision == "approve"]
    assert (approval.revision_number, approval.credentials) == (2, "M.D., Ph.D.")


# 6 ---------------------------------------------------------------------------------------------

def test_editor_publishes_after_confirming_and_the_public_page_shows_the_review(page, live_server, live_app, shot,
                                                                               check_a11y):
    story = build("approved")
    sign_in(page, live_server, story.editor_email)
    page.goto(story.url(live_server))
    check_a11y(page)
    page.get_by_role("link", name="Publish…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Publish “{TITLE}”, revision 2")
    expect(page.locator("main")).to_contain_text("Dana Okafor, M.D., Ph.D.")
    check_a11y(page)
    shot(page, "confirm-publish")
    page.get_by_label(re.compile("Change note")).fill("First published.")
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"Published “{TITLE}” as version 1.")
    check_a11y(page)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Public site").click()
    check_a11y(page)
    shot(page, "public-index")
    page.get_by_role("link", name=TITLE).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    byline = page.locator(".byline").first
    expect(byline).to_contain_text("Medically reviewed by Dana Okafor, M.D., Ph.D.")
    expect(byline).to_contain_text("Written by Wren Alder")
    expect(page.locator("main")).to_contain_text("Posted on")
    expect(page.locator("main")).to_contain_text("Medically reviewed on")
    expect(page.locator(".about-reviewer")).to_contain_text("Dermatology")
    expect(page.locator(".about-reviewer")).to_contain_text("Lakeside Skin Clinic")
    history = page.locator("details", has_text="How we reviewed this article")
    history.locator("summary").click()
    expect(history.get_by_role("listitem").first).to_contain_text("Version 1")
    expect(history).to_contain_text("Medically reviewed by Dana Okafor, M.D., Ph.D.")
    check_a11y(page)
    shot(page, "public-page")
    sign_out(page)
    page.goto(f"{live_server.url}/articles/{story.slug}")
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    check_a11y(page)
    assert _fresh(Article, id=story.article_id)[0].state == "published"


# 7 ---------------------------------------------------------------------------------------------

def test_wrong_password_at_signing_is_refused_and_nothing_is_signed(page, live_server, live_app, shot, check_a11y):
    story = build("in_review")
    sign_in(page, live_server, story.reviewer_email)
    page.goto(story.url(live_server, "/review"))
    page.get_by_role("link", name="Request changes").click()
    page.get_by_label("Changes requested").fill("Please add a source for the timing.")
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Sign and request changes").click()
    error = page.locator("#password-error")
    expect(error).to_contain_text("That password is not right")
    expect(error).to_contain_text("Nothing was signed.")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Password")).to_be_focused()  # a screen reader reads the message at once
    expect(page.get_by_label("Changes requested")).to_have_value("Please add a source for the timing.")
    check_a11y(page)
    shot(page, "wrong-password")
    assert _fresh(Decision, article_id=story.article_id) == []
    assert _fresh(Article, id=story.article_id)[0].state == "in_review"


def test_stale_save_from_a_second_tab_keeps_the_typed_text(page, live_server, live_app, shot, check_a11y):
    story = build("changes_requested")
    sign_in(page, live_server, story.writer_email)
    second = page.context.new_page()
    page.goto(story.url(live_server, "/edit"))
    second.goto(story.url(live_server, "/edit"))
    page.locator("#body").fill(BODY_2)
    page.get_by_role("button", name="Save revision 2").click()
    expect(page.get_by_role("status")).to_contain_text("Revision 2 is saved.")

    typed = BODY_2.replace("Thick, fragrance-free", "Thick, unscented")
    second.locator("#body").fill(typed)
    second.get_by_role("button", name="Save revision 2").click()
    message = second.locator("#stale-message")
    expect(message).to_contain_text("Your changes are not saved yet.")
    expect(message).to_contain_text("Revision 2 was saved after the revision 1 you edited")
    expect(second.locator("#body")).to_have_value(typed)
    check_a11y(second)
    shot(second, "stale-save")
    assert _fresh(Article, id=story.article_id)[0].current_revision == 2


def test_writer_opening_the_publish_page_gets_the_403_page(page, live_server, live_app, shot, check_a11y):
    story = build("approved")
    sign_in(page, live_server, story.writer_email)
    response = page.goto(f"{live_server.url}/work/articles/{story.article_id}/publish")
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("You don’t have permission to do this")
    expect(page.locator("main")).to_contain_text(
        "Only an editor who neither wrote nor reviews the article can publish it")
    expect(page.get_by_role("link", name="Go to your dashboard")).to_be_visible()
    check_a11y(page)
    shot(page, "forbidden")
    assert _fresh(Article, id=story.article_id)[0].state == "approved"


# Keyboard only ----------------------------------------------------------------------------------

FOCUSED = """() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    const ring = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2) || style.boxShadow !== 'none';
    return {id: el.id, tag: el.tagName.toLowerCase(), text: (el.innerText || el.value || '').trim().slice(0, 60),
            visible: ring && el.matches(':focus-visible')};
}"""


def _tab_to(page, wanted, limit: int = 80) -> dict:
    """Press Tab until ``wanted(focused)`` holds; every element on the way must show its focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        assert focused["visible"], f"no visible focus on {focused}"
        if wanted(focused):
            return focused
    raise AssertionError(f"Tab never reached the element; last focused: {focused}")


def test_keyboard_only_annotation_and_signed_request_for_changes(page, live_server, live_app, shot, check_a11y):
    story = build("in_review")
    page.goto(live_server.url + "/login")
    expect(page.locator("#email")).to_be_focused()  # autofocus
    page.keyboard.type(story.reviewer_email)
    _tab_to(page, lambda f: f["id"] == "password")
    page.keyboard.type("Corr3ct-Horse-Battery")
    page.keyboard.press("Enter")
    page.wait_for_url("**/dashboard")

    page.goto(story.url(live_server, "/review"))
    _tab_to(page, lambda f: f["id"] == "quote")
    page.keyboard.type(QUOTE)
    assert _tab_to(page, lambda f: True)["id"] == "comment"
    page.keyboard.type(COMMENT)
    assert _tab_to(page, lambda f: True)["id"] == "blocking"
    page.keyboard.press("Space")
    expect(page.locator("#blocking")).to_be_checked()
    focused = _tab_to(page, lambda f: True)
    assert focused["text"] == "Add annotation", focused
    shot(page, "focus-on-submit")
    page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_contain_text("Annotation added as blocking")
    expect(page.locator("[data-annotate-root] mark")).to_have_text(QUOTE)
    _tab_to(page, lambda f: f["text"] == "Show in text")
    page.keyboard.press("Enter")
    expect(page.locator("[data-annotate-root] mark.active")).to_have_count(1)
    _tab_to(page, lambda f: f["text"] == "Request changes")
    page.keyboard.press("Enter")
    page.wait_for_url("**/sign?decision=request_changes")
    _tab_to(page, lambda f: f["id"] == "comment")
    page.keyboard.type("Please add a source for the timing.")
    _tab_to(page, lambda f: f["id"] == "password")
    page.keyboard.type("Corr3ct-Horse-Battery")
    shot(page, "sign-by-keyboard")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("You requested changes on revision 1")
    check_a11y(page)
    (ann,) = _fresh(Annotation, article_id=story.article_id)
    assert (ann.quote, ann.blocking) == (QUOTE, True)
    assert [d.decision for d in _fresh(Decision, article_id=story.article_id)] == ["request_changes"]


# Phone width -------------------------------------------------------------------------------------

def _fits_the_width(page) -> None:
    """Nothing makes the page scroll sideways on the phone (tables scroll inside their own wrapper)."""
    width = page.viewport_size["width"]
    overflow = page.evaluate("() => document.documentElement.scrollWidth") - width
    if overflow > 0:  # name the culprits: elements past the edge that no scrolling box clips
        wide = page.evaluate("""(width) => Array.from(document.querySelectorAll('body *'))
            .filter(el => el.getBoundingClientRect().right > width + 1)
            .filter(el => { for (let a = el.parentElement; a; a = a.parentElement) {
                if (getComputedStyle(a).overflowX !== 'visible') return false; } return true; })
            .slice(0, 5).map(el => `${el.tagName}.${el.className} ends at ${el.getBoundingClientRect().right}`)
        """, width)
        raise AssertionError(f"{page.url} is {overflow}px wider than the phone's screen: {wide}")


def _person(email: str) -> User:
    return db.session.scalars(select(User).filter_by(email=email).options(*with_roles())).one()


def test_phone_width_dashboard_review_page_and_public_page(browser, live_server, live_app, shot, check_a11y):
    story = build("published")
    writer, editor, reviewer = (_person(story.writer_email), _person(story.editor_email),
                                _person(story.reviewer_email))
    second = make_article(writer, "in_review", reviewer=reviewer, editor=editor, title="Sun protection for children",
                          body=DRAFT)
    reviews.add_annotation(reviewer, second, 1, "their skin is thinner", "Say why thinner skin burns faster.", True)
    db.session.commit()
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  locale="en-GB", timezone_id="Europe/Berlin")
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/articles/{story.slug}")
        expect(page.locator(".byline").first).to_contain_text("Medically reviewed by Dana Okafor, M.D., Ph.D.")
        _fits_the_width(page)
        check_a11y(page)
        shot(page, "public-page")

        sign_in(page, live_server, story.reviewer_email)
        _fits_the_width(page)
        check_a11y(page)
        shot(page, "dashboard")
        expect(page.get_by_role("link", name="Sun protection for children", exact=True)).to_be_visible()
        page.goto(f"{live_server.url}/work/articles/{second.id}/review")
        expect(page.locator("[data-annotate-root] mark")).to_have_text("their skin is thinner")
        _fits_the_width(page)
        check_a11y(page)
        shot(page, "review-page")
    finally:
        context.close()
