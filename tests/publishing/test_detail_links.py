"""The staff article page links a live article to its certificate and lets editors set the re-review interval."""
from reviewflow.articles.models import Article
from tests.factories import make_article


def test_editor_sets_rereview_interval_from_article_page(client, login, db, cast):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    login(cast["editor"])
    page = client.get(f"/work/articles/{article.id}").get_data(as_text=True)
    assert f"/work/articles/{article.id}/versions/1/certificate" in page
    assert 'name="months"' in page
    response = client.post(f"/work/articles/{article.id}/rereview", data={"months": "6"})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Article, article.id).rereview_months == 6


def test_writer_sees_no_interval_form(client, login, cast):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    login(cast["writer"])
    page = client.get(f"/work/articles/{article.id}").get_data(as_text=True)
    assert 'name="months"' not in page
    assert client.post(f"/work/articles/{article.id}/rereview", data={"months": "6"}).status_code == 403
