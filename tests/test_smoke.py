"""The app starts and the happy path through the services holds."""
from tests.factories import make_article


def test_published_article_has_public_page(client, cast):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    assert article.state == "published"
    response = client.get(f"/articles/{article.slug}")
    assert response.status_code == 200
