"""Resubmitting after a request for changes: a step of its own, with what was asked and answered.

The article page offers "Resubmit for review…" (a link to the step) instead of the bare submit button
once the writer has saved a new revision; the step lists the signed request, every annotation (open and
resolved) with its replies and the sources, and posts to the same submit as before. The refusals are
the rulebook's: 404 to whom cannot see the article, 403 to whom may see it but not submit, 409 before a
new revision is saved.
"""
from __future__ import annotations

import pytest

from reviewflow.articles import services as articles
from reviewflow.extensions import db
from reviewflow.reviews import services as reviews
from tests.factories import make_article


@pytest.fixture
def asked(cast):
    """Wren's article on which Dana requested changes, with one blocking annotation Wren replied to."""
    article = make_article(cast["writer"], "changes_requested", reviewer=cast["rev"], editor=cast["editor"])
    quote = article.revision.body.split(".")[0]
    ann = reviews.add_annotation(cast["rev"], article, article.current_revision, quote,
                                 "Say which cream, and cite it.", blocking=True)
    db.session.commit()
    reviews.reply_to_annotation(cast["writer"], ann, "Named the cream and added the guideline.")
    db.session.commit()
    return article


def _revise(cast, article) -> None:
    articles.save_revision(cast["writer"], article, article.revision.title, article.revision.body + "\n\nMore.",
                           article.current_revision, "Addressed the annotation.")
    db.session.commit()


def test_before_a_new_revision_the_page_asks_to_edit_and_the_step_is_refused(cast, login, client, asked):
    login(cast["writer"])
    html = client.get(f"/work/articles/{asked.id}").get_data(as_text=True)
    assert "A reviewer requested changes." in html
    assert "Resubmit for review…" not in html and 'value="submit"' not in html
    assert client.get(f"/work/articles/{asked.id}/resubmit").status_code == 409


def test_after_a_new_revision_the_banner_and_button_lead_to_the_step(cast, login, client, asked):
    _revise(cast, asked)
    login(cast["writer"])
    html = client.get(f"/work/articles/{asked.id}").get_data(as_text=True)
    assert "A reviewer requested changes." not in html
    assert "Revision 2 is saved; the reviewer asked for changes on revision 1." in html
    assert f'<a class="btn btn-primary" href="/work/articles/{asked.id}/resubmit">Resubmit for review…</a>' in html

    step = client.get(f"/work/articles/{asked.id}/resubmit")
    assert step.status_code == 200
    page = step.get_data(as_text=True)
    assert "Needs a source." in page  # the signed request's comment
    assert "Say which cream, and cite it." in page and "Named the cream and added the guideline." in page
    assert "Still open (1)" in page
    assert f'href="/work/articles/{asked.id}/diff?a=1&amp;b=2"' in page
    assert f'action="/work/articles/{asked.id}/submit"' in page and "Resubmit revision 2" in page


def test_the_step_posts_to_submit_and_the_article_goes_back_in_review(cast, login, client, asked):
    _revise(cast, asked)
    login(cast["writer"])
    response = client.post(f"/work/articles/{asked.id}/submit", data={"transition": "submit"})
    assert response.status_code == 303
    db.session.expire_all()
    assert asked.state == "in_review"
    # The step is only for an article waiting to be resubmitted: afterwards it leads back to the article.
    again = client.get(f"/work/articles/{asked.id}/resubmit")
    assert again.status_code == 409


def test_resolved_annotations_are_listed_apart(cast, login, client, asked):
    _revise(cast, asked)
    ann = reviews.annotations_of(asked)[0]
    reviews.set_annotation_status(cast["rev"], ann, "resolved")
    db.session.commit()
    login(cast["writer"])
    page = client.get(f"/work/articles/{asked.id}/resubmit").get_data(as_text=True)
    assert "Every annotation is resolved." in page and "Resolved (1)" in page


@pytest.mark.parametrize("who, status", [("writer2", 404), ("rev2", 404), ("editor", 403), ("admin", 403),
                                         ("rev", 403)])
def test_only_the_writer_may_open_the_step(cast, login, client, asked, who, status):
    _revise(cast, asked)
    login(cast[who])
    assert client.get(f"/work/articles/{asked.id}/resubmit").status_code == status
