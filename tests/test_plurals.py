"""One way to write a count in a sentence (``textrules.counted``), in pages and e-mails alike."""
from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from reviewflow.textrules import counted, plural
from tests.factories import make_article

words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz -", min_size=1, max_size=20).filter(str.strip)


@given(n=st.integers(-10**9, 10**9), word=words, many=st.none() | words)
def test_the_noun_agrees_with_the_count(n, word, many):
    text = counted(n, word, many)
    number, _, noun = text.partition(" ")
    assert int(number.replace(",", "")) == n
    assert noun == (word if abs(n) == 1 else (many if many is not None else word + "s"))
    assert noun == plural(n, word, many)


def test_the_words_of_the_trade():
    assert counted(1, "approved article") == "1 approved article"
    assert counted(0, "approved article") == "0 approved articles"
    assert counted(3, "reply", "replies") == "3 replies"
    assert counted(1204, "notification") == "1,204 notifications"


def test_the_dashboard_says_see_1_approved_article(client, login, cast):
    make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    login(cast["editor"])
    html = client.get("/dashboard").get_data(as_text=True)
    assert re.search(r">See 1 approved article<", html) and "See all 1" not in html
    make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"], title="Sun safety")
    html = client.get("/dashboard").get_data(as_text=True)
    assert re.search(r">See all 2 approved articles<", html)
