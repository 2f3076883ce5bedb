"""The 410 notice of an unpublished article shows only text readers were shown: never a newer draft's.

A published article goes back to draft for its update, and ``Article.title`` follows the newest
draft, unreviewed. Unpublishing it must not put that draft title on the public site: not in the
notice, its page title or breadcrumb, not in the finished response the fast path keeps for the
next readers, and not in the public API's 410 message.
"""
from __future__ import annotations

import pytest
from flask import request_started

from reviewflow.articles import services as articles
from reviewflow.publishing import services as publishing
from reviewflow.reviews import services as reviews
from tests.factories import BODY, PASSWORD, make_article

PUBLISHED_TITLE = "Eczema in winter"
DRAFT_TITLE = "Secret draft title"
REASON = "Withdrawn while we update it to new guidance."


@pytest.fixture
def unpublished_with_draft(db, cast):
    """A published article whose writer saved a draft with a new title, then unpublished by an editor."""
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"],
                           title=PUBLISHED_TITLE)
    articles.save_revision(cast["writer"], article, DRAFT_TITLE, BODY + "\nA draft paragraph.\n",
                           article.current_revision, "New title")
    db.session.commit()
    assert article.title == DRAFT_TITLE and article.state == "draft"
    publishing.unpublish_article(cast["editor"], article, REASON)
    db.session.commit()
    return article


@pytest.mark.parametrize("address", ["/articles/{slug}", "/articles/{slug}/v1"])
def test_the_gone_page_is_titled_as_last_published(client, unpublished_with_draft, address):
    response = client.get(address.format(slug=unpublished_with_draft.slug))
    html = response.get_data(as_text=True)
    assert response.status_code == 410
    assert DRAFT_TITLE not in html
    assert f"“{PUBLISHED_TITLE}” is no longer published" in html
    assert f"<title>{PUBLISHED_TITLE}: no longer published" in html
    assert REASON in html


def test_the_gone_page_kept_by_the_fast_path_has_no_draft_text(app, client, unpublished_with_draft):
    """The second anonymous reader gets the finished response the first one's request left behind."""
    requests = []

    def started(sender, **extra):
        requests.append(1)

    request_started.connect(started, app)
    try:
        first = client.get(f"/articles/{unpublished_with_draft.slug}")
        second = client.get(f"/articles/{unpublished_with_draft.slug}")
    finally:
        request_started.disconnect(started, app)
    assert len(requests) == 1, "the second answer should have come from the fast path"
    assert second.status_code == 410 and second.get_data() == first.get_data()
    assert DRAFT_TITLE not in second.get_data(as_text=True)
    assert PUBLISHED_TITLE in second.get_data(as_text=True)


def test_the_title_is_that_of_the_latest_published_version(app, client, db, cast):
    """Published under one title, then under another: the notice names the second, not the first or the draft."""
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"],
                           title=PUBLISHED_TITLE)
    articles.save_revision(cast["writer"], article, "Eczema in cold weather", BODY, article.current_revision)
    articles.submit_article(cast["writer"], article)
    reviews.sign_decision(cast["rev"], article, article.current_revision, "approve", PASSWORD,
                          checklist=list(app.config["REVIEW_CHECKLIST"]))
    publishing.publish_revision(cast["editor"], article, article.current_revision, "New title.")
    articles.save_revision(cast["writer"], article, DRAFT_TITLE, BODY, article.current_revision)
    publishing.unpublish_article(cast["editor"], article, REASON)
    db.session.commit()
    html = client.get(f"/articles/{article.slug}").get_data(as_text=True)
    assert "“Eczema in cold weather” is no longer published" in html
    assert DRAFT_TITLE not in html and PUBLISHED_TITLE not in html


def test_the_public_api_410_has_no_draft_text(client, unpublished_with_draft):
    response = client.get(f"/api/v1/published/{unpublished_with_draft.slug}")
    assert response.status_code == 410
    assert response.get_json()["error"]["code"] == "gone"
    assert REASON in response.get_json()["error"]["message"]
    assert DRAFT_TITLE not in response.get_data(as_text=True)
