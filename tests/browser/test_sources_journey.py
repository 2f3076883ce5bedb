"""Sources in a real browser: the writer cites, the reviewer checks each source (one fails and is fixed),
the editor publishes, and the reader sees the numbered sources with who checked them (axe-clean).
"""
from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from reviewflow.extensions import db
from reviewflow.sources.models import SourceCheck
from tests.browser.helpers import BODY_1, TITLE, accept_confirms, build, sign_in, sign_out
from tests.factories import PASSWORD

NHS = "NHS, “Atopic eczema”, consulted 2026. https://www.nhs.uk/conditions/atopic-eczema/"
AAD = "American Academy of Dermatology, “Eczema: bathing tips”. https://www.aad.org/public/diseases/eczema"
AAD_FIXED = "American Academy of Dermatology, “Eczema: how to moisturize”. https://www.aad.org/public/diseases/eczema/moisturize"


def _cited(aad: str) -> str:
    body = BODY_1.replace("dry the skin barrier.", "dry the skin barrier.[^nhs]")
    creams = "Thick, fragrance-free creams keep water in."
    body = body.replace(creams, creams + "[^aad]")
    return body + f"\n[^nhs]: {NHS}\n[^aad]: {aad}\n"


def _checks() -> list[tuple[str, str]]:
    db.session.expire_all()
    return [(c.key, c.verdict) for c in db.session.scalars(select(SourceCheck).order_by(SourceCheck.id))]


def test_cite_check_refuse_fix_approve_publish_and_read_the_sources(page, live_server, live_app, shot, check_a11y):
    story = build("in_review")
    accept_confirms(page)

    # The writer cites two sources; the preview numbers them and flags a citation left undefined.
    sign_in(page, live_server, story.writer_email)
    page.goto(story.url(live_server, "/edit"))
    body = page.locator("#body")
    body.fill(_cited(AAD).replace(f"[^aad]: {AAD}\n", ""))
    preview = page.locator("#preview")
    expect(preview).to_contain_text("[^aad] is cited but has no definition")
    body.fill(_cited(AAD))
    expect(preview.locator(".source-list li")).to_have_count(2)
    expect(preview.locator("sup.cite a").first).to_have_text("1")
    expect(preview).not_to_contain_text("has no definition")
    check_a11y(page)
    shot(page, "sources-preview")
    page.locator("#note").fill("Cited the NHS and the AAD")
    page.get_by_role("button", name=re.compile("Save revision")).click()
    expect(page.get_by_role("status")).to_contain_text("is saved")
    sign_out(page)

    # The reviewer checks: the first source supports the text, the second does not; approval waits.
    sign_in(page, live_server, story.reviewer_email)
    page.goto(story.url(live_server, "/review"))
    expect(page.locator("#sources-heading")).to_contain_text("0 of 2 supported")
    page.locator("button[data-cites='2']").click()
    expect(page.locator("[data-annotate-root] .cites-highlight")).to_have_count(1)
    expect(page.locator("[data-annotate-root] .cites-highlight")).to_contain_text("fragrance-free creams")
    check_a11y(page)
    nhs = page.locator("#check-nhs")
    nhs.get_by_label("Supports the text", exact=True).check()
    nhs.get_by_role("button", name="Save verdict").click()
    expect(page.get_by_role("status")).to_contain_text("Verdict on source [^nhs] saved")
    aad = page.locator("#check-aad")
    aad.get_by_label("Does not support it", exact=True).check()
    aad.get_by_role("button", name="Save verdict").click()  # no comment: refused beside the source
    expect(page.locator("#verdict-aad-error")).to_contain_text("comment")
    aad = page.locator("#check-aad")
    aad.get_by_label("Does not support it", exact=True).check()
    aad.get_by_label(re.compile("Comment")).fill("This page is about bathing, not about creams.")
    aad.get_by_role("button", name="Save verdict").click()
    expect(page.locator("#check-aad")).to_contain_text("Blocks approval")
    expect(page.locator("main")).to_contain_text("Approval waits for every source")
    check_a11y(page)
    shot(page, "sources-workspace")
    assert _checks() == [("nhs", "supports"), ("aad", "does_not_support")]
    sign_out(page)

    # The writer sees why beside the footnote and cites a better page.
    sign_in(page, live_server, story.writer_email)
    page.goto(story.url(live_server, "/edit"))
    expect(page.locator("#writer-source-aad")).to_contain_text("This page is about bathing, not about creams.")
    check_a11y(page)
    body = page.locator("#body")
    body.fill(body.input_value().replace(AAD, AAD_FIXED))
    page.locator("#note").fill("A better source for creams")
    page.get_by_role("button", name=re.compile("Save revision")).click()
    expect(page.get_by_role("status")).to_contain_text("is saved")
    sign_out(page)

    # The reviewer checks the new source and signs the approval.
    sign_in(page, live_server, story.reviewer_email)
    page.goto(story.url(live_server, "/review"))
    expect(page.locator("#sources-heading")).to_contain_text("1 of 2 supported")  # the NHS verdict followed
    aad = page.locator("#check-aad")
    aad.get_by_label("Supports the text", exact=True).check()
    aad.get_by_role("button", name="Save verdict").click()
    expect(page.locator("#sources-heading")).to_contain_text("2 of 2 supported")
    page.get_by_role("link", name="Approve…").click()
    for box in page.get_by_role("group", name="Review checklist").get_by_role("checkbox").all():
        box.check()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign and approve").click()
    expect(page.get_by_role("status")).to_contain_text("You approved revision")
    sign_out(page)

    # The editor publishes; the reader sees the numbered sources and who checked them.
    sign_in(page, live_server, story.editor_email)
    page.goto(story.url(live_server))
    page.get_by_role("link", name="Publish…").click()
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"Published “{TITLE}”")
    sign_out(page)
    page.goto(f"{live_server.url}/articles/{story.slug}")
    sources = page.locator("section.sources")
    expect(sources.get_by_role("heading", level=2)).to_have_text("Sources")
    expect(sources.locator("li")).to_have_count(2)
    expect(sources.locator("li").nth(1)).to_contain_text("how to moisturize")
    expect(sources.locator("li").nth(0)).to_contain_text("Checked by Dana Okafor")
    expect(sources.get_by_role("link", name="https://www.nhs.uk/conditions/atopic-eczema/")).to_be_visible()
    page.locator("sup.cite a").first.click()
    expect(page.locator("#source-1")).to_be_in_viewport()
    check_a11y(page)
    shot(page, "public-sources")
