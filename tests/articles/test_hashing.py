"""The content hash of PRODUCT.md, recomputed here from its definition.

SHA-256, in hex, of the UTF-8 bytes of ``NFC(title) + "\\n\\n" + NFC(body)``, the body's line
endings turned into LF first. Anyone can recompute it from the text, so this test does.
"""
from __future__ import annotations

import hashlib
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from reviewflow.articles import services as articles
from reviewflow.articles.models import content_hash
from tests.factories import make_user


def expected_hash(title: str, body: str) -> str:
    """The definition, written out independently of reviewflow's code."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", title) + "\n\n" + unicodedata.normalize("NFC", body)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_known_value():
    assert content_hash("Eczema", "Moisturize.\n") == hashlib.sha256(b"Eczema\n\nMoisturize.\n").hexdigest()


def test_hash_is_lowercase_hex_sha256():
    digest = content_hash("A", "B")
    assert len(digest) == 64 and digest == digest.lower() and int(digest, 16) >= 0


def test_nfd_input_hashes_like_nfc():
    title_nfc, body_nfc = "Café-au-lait spots", "Naïve skin: crème, señor, Å.\n"
    title_nfd, body_nfd = (unicodedata.normalize("NFD", s) for s in (title_nfc, body_nfc))
    assert title_nfd != title_nfc and body_nfd != body_nfc
    assert content_hash(title_nfd, body_nfd) == content_hash(title_nfc, body_nfc) == expected_hash(title_nfc,
                                                                                                  body_nfc)


def test_crlf_and_cr_hash_like_lf():
    lf = "Line one\nLine two\n\nLine four\n"
    assert content_hash("T", lf.replace("\n", "\r\n")) == content_hash("T", lf)
    assert content_hash("T", lf.replace("\n", "\r")) == content_hash("T", lf)
    assert content_hash("T", lf) == expected_hash("T", lf)


def test_title_and_body_are_separated_by_a_blank_line():
    """Moving text between title and body changes the hash."""
    assert content_hash("AB", "C") != content_hash("A", "BC")
    assert content_hash("A\n", "B") != content_hash("A", "B")


@settings(max_examples=200, deadline=None, database=None)
@given(title=st.text(min_size=1, max_size=40), body=st.text(min_size=1, max_size=200))
def test_hash_matches_the_definition_for_any_text(title, body):
    assert content_hash(title, body) == expected_hash(title, body)


def test_stored_revisions_carry_the_hash_of_their_text(db):
    writer = make_user("writer")
    title = unicodedata.normalize("NFD", "Rosacéa triggers")
    body = "Heat, spicy food\r\nand alcohol.\rSee a clinician.\n"
    article = articles.create_article(writer, title, body)
    rev2 = articles.save_revision(writer, article, title + " 2", body + "More.\r\n", 1, "Second")
    db.session.commit()
    assert article.revision.content_hash == rev2.content_hash == expected_hash(title + " 2", body + "More.\r\n")
    first = articles.get_revision(article, 1)
    assert first.content_hash == expected_hash(title, body)


def test_api_reports_the_same_hash(api, db):
    writer = make_user("writer")
    body = "Drink water.\r\nRest.\r\n"
    response = api(writer, "POST", "/articles", json={"title": "Colds", "body": body})
    assert response.status_code == 201
    assert response.get_json()["revision"]["content_hash"] == expected_hash("Colds", body)
