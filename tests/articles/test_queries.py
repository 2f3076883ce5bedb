"""The read-only list queries: who sees what, the dashboard sections, and a fixed number of
SQL statements for the dashboard and the article index whatever the data size."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, select, update
from werkzeug.datastructures import MultiDict

from reviewflow import paging
from reviewflow.articles import queries
from reviewflow.articles.models import Article
from reviewflow.auth.models import User
from reviewflow.auth.services import with_roles
from reviewflow.extensions import db as _db
from reviewflow.extensions import utcnow
from reviewflow.reviews import queries as review_queries
from reviewflow.reviews import services as reviews
from reviewflow.reviews.models import ReviewAssignment
from tests.factories import PASSWORD, make_article, make_user


def titles(rows) -> set[str]:
    return {a.title for a in rows}


def assignment_of(article, reviewer) -> ReviewAssignment:
    return _db.session.scalar(select(ReviewAssignment).where(ReviewAssignment.article_id == article.id,
                                                             ReviewAssignment.reviewer_id == reviewer.id))


# Who sees what ------------------------------------------------------------------------


def test_index_scopes_articles_to_what_the_person_may_see(cast):
    kw = {"reviewer": cast["rev"], "editor": cast["editor"]}
    own = make_article(cast["writer"], title="Own draft")
    assigned = make_article(cast["writer2"], "in_review", title="Assigned", **kw)
    make_article(cast["writer2"], title="Hidden draft")
    everything = {"Own draft", "Assigned", "Hidden draft"}
    none = queries.Filters()
    assert titles(queries.article_index(cast["writer"], none).items) == {"Own draft"}
    assert titles(queries.article_index(cast["rev"], none).items) == {"Assigned"}
    assert titles(queries.article_index(cast["rev2"], none).items) == set()
    assert titles(queries.article_index(cast["editor"], none).items) == everything
    assert titles(queries.article_index(cast["admin"], none).items) == everything
    both = make_user("writer", "reviewer", name="Both Hats", specialty="Dermatology")
    reviews.assign_reviewer(cast["editor"], _db.session.get(Article, own.id), both.id)
    make_article(both, title="Both's own")
    _db.session.commit()
    assert titles(queries.article_index(both, none).items) == {"Own draft", "Both's own"}
    reviewing = queries.Filters(scope="reviewing")
    assert titles(queries.article_index(both, reviewing).items) == {"Own draft"}
    assert assigned.id in queries.article_index(cast["rev"], none).assignments


def test_a_withdrawn_reviewer_no_longer_sees_the_article(cast):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    reviews.withdraw_assignment(cast["editor"], article, assignment_of(article, cast["rev"]))
    _db.session.commit()
    assert queries.article_index(cast["rev"], queries.Filters()).items == []
    assert queries.assignments_by_article([article.id])[article.id] == []
    assert len(queries.assignments_by_article([article.id], include_withdrawn=True)[article.id]) == 1


def test_filters_from_the_query_string_ignore_unknown_values():
    f = queries.Filters.from_args(MultiDict([("state", "draft"), ("state", "bogus"), ("state", "draft"),
                                             ("scope", "everyone"), ("q", "  Acne "), ("rereview", "due")]))
    assert f.states == ["draft"] and f.scope == "" and f.q == "Acne" and f.rereview_due
    assert f.args() == {"state": ["draft"], "q": "Acne", "rereview": "due"}
    assert not queries.Filters.from_args(MultiDict()).active


def test_title_search_is_case_insensitive_and_literal(cast):
    make_article(cast["writer"], title="Vitamin D: 100% of what?")
    make_article(cast["writer"], title="Iron levels")
    find = lambda q: titles(queries.article_index(cast["editor"], queries.Filters(q=q)).items)  # noqa: E731
    assert find("VITAMIN") == {"Vitamin D: 100% of what?"}
    assert find("100%") == {"Vitamin D: 100% of what?"}
    assert find("_") == set()  # LIKE wildcards are escaped


def test_rereview_filter_lists_live_articles_due_soon(cast):
    kw = {"reviewer": cast["rev"], "editor": cast["editor"]}
    soon = make_article(cast["writer"], "published", title="Due soon", **kw)
    make_article(cast["writer"], "published", title="Due next year", **kw)
    _db.session.get(Article, soon.id).rereview_due = utcnow().date() + timedelta(days=3)
    _db.session.commit()
    assert titles(queries.article_index(cast["editor"], queries.Filters(rereview_due=True)).items) == {"Due soon"}
    assert queries.editor_work().rereviews_total == 1


def _tie(ids, when) -> None:
    """Give these articles the same ``updated_at``: a tie on the first sort key, broken by id."""
    _db.session.execute(update(Article).where(Article.id.in_(ids)).values(updated_at=when))
    _db.session.commit()


def walk(fetch, keyset: paging.Keyset):
    """Every page of a list: forward from the first by the "next" cursor of each page's last row, then
    back from the last page by the "previous" cursor of each page's first row. Cursors go through
    their query-string form, as a link carries them."""
    def at(row, backward: bool) -> paging.Cursor:
        param = keyset.prev if backward else keyset.next
        return keyset.read(MultiDict({param: keyset.encode(row)}))

    forward = [fetch(None)]
    while forward[-1].has_next:
        forward.append(fetch(at(forward[-1].items[-1], backward=False)))
    back = [forward[-1]]
    while back[-1].has_prev:
        back.append(fetch(at(back[-1].items[0], backward=True)))
    return forward, back


def test_index_pages_forward_and_back_through_a_filtered_list_with_ties(cast):
    t0 = utcnow().replace(microsecond=0) - timedelta(days=3)
    sleep = [make_article(cast["writer"], title=f"Sleep {n}", topic="Sleep") for n in range(8)]
    other = [make_article(cast["writer"], title=f"Skin {n}", topic="Dermatology") for n in range(3)]
    _tie([sleep[0].id, sleep[3].id, sleep[6].id, other[0].id], t0)  # ties straddle the page edges
    _tie([sleep[1].id, sleep[4].id, sleep[7].id, other[1].id], t0 + timedelta(hours=1))
    _tie([sleep[2].id, sleep[5].id], t0 + timedelta(hours=2))
    rows = _db.session.scalars(select(Article).where(Article.topic == "Sleep")).all()
    expected = [a.title for a in sorted(rows, key=lambda a: (a.updated_at, a.id), reverse=True)]
    only_sleep = queries.Filters(topic="Sleep")

    forward, back = walk(lambda c: queries.article_index(cast["editor"], only_sleep, c, per_page=3),
                         queries.INDEX_KEYSET)
    assert [len(p.items) for p in forward] == [3, 3, 2]
    assert [a.title for p in forward for a in p.items] == expected  # each once, in order
    assert [[a.id for a in p.items] for p in reversed(back)] == [[a.id for a in p.items] for p in forward]
    assert not forward[0].has_prev and not forward[-1].has_next and back[-1].items == forward[0].items
    assert {p.total for p in forward} == {8} and forward[1].summary == "Showing 3 of 8 articles"


def test_index_keyset_edges(cast):
    for n in range(5):
        make_article(cast["writer"], title=f"Piece {n}")
    f = queries.Filters()
    first = queries.article_index(cast["writer"], f, per_page=3)
    assert [a.title for a in first.items] == ["Piece 4", "Piece 3", "Piece 2"] and first.has_next
    key = queries.INDEX_KEYSET.key_of
    # Back from the second row: one row lies before it, so the whole first page is shown instead.
    start = queries.article_index(cast["writer"], f, paging.Cursor(key(first.items[1]), backward=True), 3)
    assert start.items == first.items and not start.has_prev and start.has_next
    # Past the last row: an empty page that still knows the list's size (the template links to page one).
    rest = queries.article_index(cast["writer"], f, paging.Cursor(key(first.items[-1])), 3)
    assert [a.title for a in rest.items] == ["Piece 1", "Piece 0"] and rest.has_prev and not rest.has_next
    past = queries.article_index(cast["writer"], f, paging.Cursor(key(rest.items[-1])), 3)
    assert past.items == [] and past.total == 5 and past.summary == ""
    assert queries.article_index(cast["writer"], f, per_page=25).summary == "5 articles"


@pytest.mark.parametrize("value", [
    "", "a", "abc", "a1", "a1.2.3", "a01.2", "a1.02", "a-1.2", "a1.-2", "a1.2x", " a1.2", "a1.2 ", "A1.2",
    "a1,2", "a1..2", "a\u0661.2", "n5", "q1.2", "a253402300800000000.1", "a1.2147483648", "a" + "9" * 30 + ".1",
])
def test_malformed_or_foreign_index_cursors_are_ignored(value):
    assert queries.INDEX_KEYSET.decode(value) is None
    assert queries.INDEX_KEYSET.read(MultiDict({"before": value})) is None


def test_cursor_reading_is_strict_about_parameters():
    ks = queries.INDEX_KEYSET
    assert ks.read(MultiDict({"before": "a5.7"})) == paging.Cursor((5, 7), backward=False)
    assert ks.read(MultiDict({"after": "a5.7"})) == paging.Cursor((5, 7), backward=True)
    assert ks.read(MultiDict([("before", "a5.7"), ("after", "a5.7")])) is None  # both directions
    assert ks.read(MultiDict([("before", "a5.7"), ("before", "a6.7")])) is None  # repeated
    assert ks.read(MultiDict({"page": "2"})) is None
    assert ks.decode("a253402300799999999.2147483647") == (paging.MAX_MICROS, paging.MAX_ID)  # the bounds


# Dashboard sections ---------------------------------------------------------------------


def test_writer_work_puts_changes_requested_first_and_counts_by_state(cast):
    w, kw = cast["writer"], {"reviewer": cast["rev"], "editor": cast["editor"]}
    make_article(w, title="Plain draft")
    make_article(w, "changes_requested", title="Needs fixes", **kw)
    make_article(w, "published", title="Out there", **kw)
    make_article(cast["writer2"], title="Not theirs")
    work = queries.writer_work(w)
    assert [a.title for a in work.todo] == ["Needs fixes", "Plain draft"]
    assert titles(work.others) == {"Out there"}
    assert work.todo_total == 2 and work.others_total == 1
    assert work.counts == {"draft": 1, "changes_requested": 1, "published": 1}


def test_review_queue_orders_by_due_date_and_counts_overdue(cast):
    rev, kw = cast["rev"], {"reviewer": cast["rev"], "editor": cast["editor"]}
    today = utcnow().date()
    dates = {"No date": None, "Late": today - timedelta(days=1), "Soon": today + timedelta(days=2),
             "Later": today + timedelta(days=20)}
    for title, due in dates.items():
        article = make_article(cast["writer"], "in_review", title=title, **kw)
        assignment_of(article, rev).due_date = due
    make_article(cast["writer"], "approved", title="Signed off", **kw)
    make_article(cast["writer"], "changes_requested", title="Sent back", **kw)
    _db.session.commit()
    queue = review_queries.review_queue(rev, None, queries.SECTION_LIMIT)
    # Due dates first (overdue leading), then no due date, oldest assignment first.
    assert [a.title for _, a in queue.items] == ["Late", "Soon", "Later", "No date", "Sent back"]
    assert "Signed off" not in {a.title for _, a in queue.items}
    assert queue.total == 5 and review_queries.queue_counts(rev) == {"total": 5, "overdue": 1, "due_soon": 1}
    assert review_queries.review_queue(cast["rev2"], None, queries.SECTION_LIMIT).items == []


def test_review_queue_is_limited(cast):
    for n in range(3):
        make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], title=f"R{n}")
    queue = review_queries.review_queue(cast["rev"], None, 2)
    assert len(queue.items) == 2 and queue.total == 3 and queue.has_next


def test_editor_work_lists_submitted_and_approved_oldest_first(cast):
    kw = {"reviewer": cast["rev"], "editor": cast["editor"]}
    make_article(cast["writer"], "submitted", title="First in")
    make_article(cast["writer2"], "submitted", title="Second in")
    make_article(cast["writer"], "approved", title="Approved", **kw)
    make_article(cast["writer"], title="A draft")
    work = queries.editor_work()
    assert [a.title for a in work.waiting] == ["First in", "Second in"]
    assert titles(work.ready) == {"Approved"}
    # Only the two states the dashboard shows are counted (drafts are the writers' business).
    assert work.counts == {"submitted": 2, "approved": 1}


def test_topic_suggestions_include_specialties(cast):
    make_article(cast["writer"], topic="Sleep")
    assert {"Sleep", "Dermatology", "Pharmacology"} <= set(queries.topic_suggestions())
    assert queries.topics_visible_to(cast["writer2"]) == []
    assert queries.topics_visible_to(cast["editor"]) == ["Sleep"]


# A fixed number of SQL statements ----------------------------------------------------------


@contextmanager
def counted_statements():
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(_db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(_db.engine, "before_cursor_execute", count)


def build(ids: dict, rounds: int) -> None:
    """``rounds`` times: a draft, a submitted article, one in review and one approved (the editor's
    list of articles ready to publish, each with its publish button), from two writers."""
    people = {k: _db.session.get(User, v, options=with_roles()) for k, v in ids.items()}
    for n in range(rounds):
        make_article(people["writer"], title=f"Draft {n}")
        make_article(people["writer2"], "submitted", title=f"Submitted {n}")
        make_article(people["writer"], "in_review", reviewer=people["rev"], editor=people["editor"],
                     title=f"In review {n}")
        make_article(people["writer2"], "approved", reviewer=people["rev"], editor=people["editor"],
                     title=f"Approved {n}")


def statements_for(client, path: str) -> int:
    _db.session.close()  # a fresh session, as each real request gets
    with counted_statements() as statements:
        response = client.get(path)
    assert response.status_code == 200, path
    _db.session.close()
    return len(statements)


PAGES = ["/dashboard", "/work/articles", "/work/articles?state=in_review&q=review&scope=mine"]


@pytest.mark.parametrize("role", ["writer", "rev", "editor"])
def test_dashboard_and_index_make_the_same_number_of_queries_for_4_and_20_articles(app, cast, role):
    ids = {k: u.id for k, u in cast.items()}
    client = app.test_client()
    assert client.post("/login", data={"email": cast[role].email, "password": PASSWORD}).status_code == 303
    build(ids, 1)
    assert len(_db.session.scalars(select(Article.id)).all()) == 4  # not the newest id: sequences outlive rollbacks
    small = {path: statements_for(client, path) for path in PAGES}
    build(ids, 4)
    assert len(_db.session.scalars(select(Article.id)).all()) == 20
    large = {path: statements_for(client, path) for path in PAGES}
    assert small == large
    assert max(large.values()) <= 20, large
