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
