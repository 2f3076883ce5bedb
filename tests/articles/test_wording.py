"""The dashboard speaks plainly: one approved article is "1 approved article", not "all 1 … articles"."""
from __future__ import annotations

from tests.factories import make_article


def _dashboard(client) -> str:
    response = client.get("/dashboard")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_one_approved_article_is_singular(cast, login, client):
    make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    login(cast["editor"])
    html = _dashboard(client)
    assert "See 1 approved article</a>" in html
    assert "See all 1" not in html


def test_two_approved_articles_are_plural(cast, login, client):
    for title in ("Eczema in winter", "Sunscreen for children"):
        make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"], title=title)
    login(cast["editor"])
    assert "See all 2 approved articles</a>" in _dashboard(client)


def test_an_update_in_review_is_marked_live_on_the_dashboard_and_the_queue(cast, login, client):
    from reviewflow.articles import services as articles
    from reviewflow.extensions import db

    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    articles.save_revision(cast["writer"], article, article.revision.title, article.revision.body + "\n\nMore.",
                           article.current_revision, "An update.")
    articles.submit_article(cast["writer"], article)
    db.session.commit()
    assert article.state == "in_review" and article.live_version == 1
    login(cast["writer"])
    assert '<span class="badge state-published">Live v1</span>' in _dashboard(client)
    client.post("/logout")
    login(cast["rev"])
    queue = client.get("/reviews").get_data(as_text=True)
    assert '<span class="badge state-published">Live v1</span>' in queue


def test_a_draft_never_published_has_no_live_badge(cast, login, client):
    make_article(cast["writer"])
    login(cast["writer"])
    assert "Live v" not in _dashboard(client)
