"""The editorial overview: who may see it, and that each number counts what it says."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import update

from reviewflow.articles.models import Article
from reviewflow.extensions import db, utcnow
from reviewflow.overview import charts, queries
from reviewflow.reviews.models import ReviewAssignment
from tests.factories import make_article


@pytest.mark.parametrize("who, status", [("editor", 200), ("admin", 200), ("writer", 403), ("rev", 403)])
def test_editors_and_admins_only(cast, login, client, who, status):
    login(cast[who])
    assert client.get("/editorial").status_code == status


def test_anonymous_is_sent_to_log_in(client, db):
    response = client.get("/editorial")
    assert response.status_code in (302, 303) and "/login" in response.headers["Location"]


def test_the_page_draws_each_chart_with_its_numbers(cast, login, client):
    make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    make_article(cast["writer"], "changes_requested", reviewer=cast["rev2"], editor=cast["editor"], title="Hay fever")
    login(cast["editor"])
    html = client.get("/editorial").get_data(as_text=True)
    # Three charts; with no review overdue, a sentence says so instead of an empty chart.
    assert html.count('<svg class="chart"') == 3 and html.count('role="img"') == 3
    assert "No review is overdue." in html
    for heading in ("Review turnaround", "Reviews overdue: 0", "Re-reviews due by month", "Decisions per reviewer"):
        assert heading in html
    # Dana approved once and Ravi requested changes once, in the table under the chart.
    assert '<th scope="row">Dana Okafor</th><td class="num">1</td><td class="num">0</td>' in html
    assert '<th scope="row">Ravi Senn</th><td class="num">0</td><td class="num">1</td>' in html
    assert 'href="/editorial"' in html  # in the editor's navigation


def test_weekly_median_and_90th_percentile():
    monday = date(2026, 11, 30)
    began = datetime(2026, 11, 30, 9, tzinfo=UTC)
    spans = [(began + timedelta(days=d), began) for d in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)]
    spans.append((datetime(2026, 11, 29, 9, tzinfo=UTC), datetime(2026, 11, 20, 9, tzinfo=UTC)))  # the week before
    spans.append((began, began + timedelta(hours=5)))  # signed "before" it began: zero days, not negative
    weeks = queries.weekly(spans, monday - timedelta(weeks=1), 3)
    assert [w.start for w in weeks] == [date(2026, 11, 23), monday, date(2026, 12, 7)]
    assert (weeks[0].count, weeks[0].median_days, weeks[0].p90_days) == (1, 9.0, 9.0)
    # This week: 0 and 1..6 (signed by Sunday 6 Dec): 7 values, median 3, 90th percentile the 7th.
    assert weeks[1].count == 7 and weeks[1].median_days == 3.0 and weeks[1].p90_days == 6.0
    assert weeks[2].count == 4 and weeks[2].median_days == 8.5
    assert queries.percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == 9


def test_overdue_counts_pending_reviews_past_their_due_date(cast):
    late = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    make_article(cast["writer"], "in_review", reviewer=cast["rev2"], editor=cast["editor"], title="On time")
    db.session.execute(update(ReviewAssignment).where(ReviewAssignment.article_id == late.id)
                       .values(due_date=utcnow().date() - timedelta(days=1)))
    db.session.commit()
    assert queries.overdue(utcnow().date()) == [("Dana Okafor", 1)]


def test_rereviews_by_month_with_the_overdue_first(cast):
    today = utcnow().date()
    live = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    late = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"], title="Old")
    db.session.execute(update(Article).where(Article.id == late.id).values(rereview_due=today - timedelta(days=3)))
    db.session.commit()
    due = db.session.get(Article, live.id).rereview_due
    months = dict(queries.rereviews(today))
    assert months["Overdue now"] == 1
    assert months[due.strftime("%b %Y")] == 1
    assert sum(months.values()) == 2


def test_decisions_per_reviewer(cast):
    make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    make_article(cast["writer"], "changes_requested", reviewer=cast["rev"], editor=cast["editor"], title="B")
    assert queries.decisions(utcnow().date()) == [("Dana Okafor", 1, 1)]


def test_a_chart_escapes_its_labels_and_scales_to_a_round_top():
    svg = charts.bars("T", "D", ["<b>x</b>", "y"], [charts.Series("S", [3, None], "s1")])
    assert "<b>x</b>" not in svg and "&lt;b&gt;x&lt;/b&gt;" in svg
    assert svg.count("<rect") == 1  # no bar for a missing value
    assert ">5</text>" in svg  # the axis tops out at 5 for a largest value of 3
