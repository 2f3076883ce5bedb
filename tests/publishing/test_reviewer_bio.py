"""A reviewer's public page opens with the bio they wrote, before the list of their articles."""
from __future__ import annotations

BIO = "Dana treats skin conditions in adults and children."  # the ``published`` fixture's profile bio


def test_the_bio_comes_first(client, cast, published):
    html = client.get(f"/reviewers/{cast['rev'].id}").get_data(as_text=True)
    bio = html.index(BIO)
    assert bio < html.index("Articles reviewed by") and bio < html.index("Credentials</h2>")
    assert html.count(BIO) == 1
