"""The notification list, grouped by article: counts and comments per group, newest group first,
paged with the keyset pager, marked read per group or all; each person sees and marks only their own."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from reviewflow.extensions import db
from reviewflow.notifications import inbox
from reviewflow.notifications import services as notices
from reviewflow.notifications.models import Notification
from reviewflow.reviews import services as reviews
from tests.articles.test_queries import walk
from tests.factories import make_article


def page_of(client, path="/notifications") -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.fixture
def reviewed(cast):
    """An article in review with two annotations and a reply for its writer, then a newer one on another."""
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    first = reviews.add_annotation(cast["rev"], article, 1, "three minutes", "Cite a source for the timing.")
    reviews.add_annotation(cast["rev"], article, 1, "lukewarm", "Say what lukewarm means.", blocking=True)
    db.session.commit()
    reviews.reply_to_annotation(cast["editor"], first, "The guideline says within minutes.")
    db.session.commit()
    other = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], title="Sun safety")
    reviews.add_annotation(cast["rev"], other, 1, "Wool", "Wool suits some people.")
    db.session.commit()
    return article, other


def test_groups_by_article_newest_first_with_counts_and_comments(cast, reviewed):
    article, other = reviewed
    page = inbox.groups_page(cast["writer"])
    assert [g.key for g in page.items] == [other.id, article.id] and page.total == 2
    newest, older = page.items
    assert newest.headline == "1 new on ‘Sun safety’: 1 annotation"
    assert older.headline == "3 new on ‘Eczema in winter’: 2 annotations, 1 reply"
    assert [n.detail for n in older.items] == ["The guideline says within minutes.", "Say what lukewarm means.",
                                               "Cite a source for the timing."]
    assert page.summary == "2 groups"


def test_the_page_shows_the_groups_with_the_comment_texts(client, login, cast, reviewed):
    login(cast["writer"])
    html = page_of(client)
    assert "3 new on ‘Eczema in winter’: 2 annotations, 1 reply" in html
    assert "Cite a source for the timing." in html and "The guideline says within minutes." in html
    assert html.index("Sun safety") < html.index("Eczema in winter")
    assert "4 unread" in html and "an hourly digest" in html


def test_new_activity_brings_a_group_back_to_the_top(cast, reviewed):
    article, other = reviewed
    notices.notify(cast["writer"], "Later", article=article, kind="approval")
    db.session.commit()
    assert [g.key for g in inbox.groups_page(cast["writer"]).items] == [article.id, other.id]


def test_marking_one_group_read_leaves_the_others(client, login, cast, reviewed):
    article, _other = reviewed
    login(cast["writer"])
    response = client.post("/notifications", data={"article": article.id})
    assert response.status_code == 303 and response.headers["Location"] == "/notifications"
    assert notices.unread_count(cast["writer"]) == 1  # the header's count: notifications, not groups
    older = inbox.groups_page(cast["writer"]).items[1]
    assert older.unread == 0 and older.headline == "‘Eczema in winter’: 2 annotations, 1 reply"
    html = page_of(client)
    assert "3 notifications marked as read." in html and "1 unread" in html


def test_marking_read_keeps_the_page_one_is_on(app, client, login, cast, reviewed):
    article, _other = reviewed
    app.config["PER_PAGE"] = 1
    login(cast["writer"])
    cursor = f"before=n{max(n.id for n in db.session.scalars(select(Notification)))}"
    response = client.post(f"/notifications?{cursor}", data={"article": article.id})
    assert response.status_code == 303 and response.headers["Location"] == f"/notifications?{cursor}"


@pytest.mark.parametrize("data", [{"article": "abc"}, {"article": "99999999999"}, {"notification": "-1"},
                                  {"article": "1", "notification": "1"}])
def test_a_group_that_cannot_be_named_is_not_found(client, login, cast, reviewed, data):
    login(cast["writer"])
    assert client.post("/notifications", data=data).status_code == 404
    assert notices.unread_count(cast["writer"]) == 4


def test_one_sees_and_marks_only_ones_own(client, login, cast, reviewed):
    """Policy: another person's notifications are neither listed nor markable (404, nothing changes)."""
    article, _other = reviewed
    lone = notices.notify(cast["writer"], "A note for the writer alone")
    db.session.commit()
    login(cast["writer2"])
    html = page_of(client)
    assert "Eczema in winter" not in html and "Cite a source" not in html and "No notifications yet." in html
    assert client.post("/notifications", data={"article": article.id}).status_code == 404
    assert client.post("/notifications", data={"notification": lone.id}).status_code == 404
    assert client.post("/notifications").status_code == 303  # "all" is all of one's own
    assert notices.unread_count(cast["writer"]) == 5
    reviewer_groups = inbox.groups_page(cast["rev"]).items
    assert all(n.user_id == cast["rev"].id for g in reviewer_groups for n in g.items)


def test_a_notification_about_no_article_is_a_group_of_its_own(client, login, cast):
    a = notices.notify(cast["writer"], "Your account was set up")
    b = notices.notify(cast["writer"], "Something else")
    db.session.commit()
    page = inbox.groups_page(cast["writer"])
    assert [g.headline for g in page.items] == ["Something else", "Your account was set up"]
    login(cast["writer"])
    assert client.post("/notifications", data={"notification": a.id}).status_code == 303
    assert db.session.get(Notification, a.id).read_at and db.session.get(Notification, b.id).read_at is None


def test_a_long_group_shows_its_newest_and_says_how_many_more(client, login, cast):
    article = make_article(cast["writer"])
    for n in range(inbox.SHOWN + 3):
        notices.notify(cast["writer"], f"Reply {n}", "/work/articles/1", article=article, kind="reply",
                       detail=f"Comment {n}")
    db.session.commit()
    (group,) = inbox.groups_page(cast["writer"]).items
    assert len(group.items) == inbox.SHOWN and group.items[0].text == f"Reply {inbox.SHOWN + 2}"
    assert group.headline == f"{inbox.SHOWN + 3} new on ‘Eczema in winter’: {inbox.SHOWN + 3} replies"
    login(cast["writer"])
    assert "And 3 earlier notifications on this article." in page_of(client)


def test_groups_page_forward_and_back(cast):
    for n in range(5):
        notices.notify(cast["writer"], f"Note {n}")
        notices.notify(cast["writer2"], f"Not theirs {n}")
    db.session.commit()
    forward, back = walk(lambda c: inbox.groups_page(cast["writer"], c, per_page=2), inbox.KEYSET)
    assert [[g.headline for g in p.items] for p in forward] == [["Note 4", "Note 3"], ["Note 2", "Note 1"], ["Note 0"]]
    assert [[g.key for g in p.items] for p in reversed(back)] == [[g.key for g in p.items] for p in forward]
    assert forward[0].total == 5 and forward[0].summary == "Showing 2 of 5 groups"


def test_the_dashboard_count_is_unread_notifications(client, login, cast, reviewed):
    login(cast["writer"])
    assert re.search(r"Unread notifications 4\b", client.get("/dashboard").get_data(as_text=True))
