"""Assigning reviewers: the ranking (specialty, open workload, past turnaround), the warning when nobody
matches, what is preselected, the default due date, who may assign, and the editors' list of reviews
in progress, overdue first."""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from reviewflow.articles import services as articles
from reviewflow.audit.models import AuditEvent
from reviewflow.errors import Forbidden, NotFound, ReviewerUnavailable
from reviewflow.extensions import utcnow
from reviewflow.reviews import queries
from reviewflow.reviews import services as reviews
from reviewflow.reviews.models import Decision, ReviewAssignment
from reviewflow.reviews.ranking import Suggestion, match_warning, preselected, rank, specialty_matches
from reviewflow.textrules import human_date
from tests.factories import CHECKLIST, PASSWORD, make_article, make_user


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _selected(html: str) -> str | None:
    """The value of the reviewer select's selected option (None when nothing is marked selected)."""
    select_html = re.search(r'<select[^>]*name="reviewer".*?</select>', html, re.S)[0]
    found = re.search(r'<option selected value="([^"]*)"|<option value="([^"]*)" selected', select_html)
    return (found[1] or found[2]) if found else None


# The ranking, pure --------------------------------------------------------------------------------

def person(id_: int, name: str = "") -> SimpleNamespace:
    return SimpleNamespace(id=id_, name=name or f"Person {id_}")


@pytest.mark.parametrize("topic, specialty, matches", [
    ("Dermatology", "Dermatology", True),
    ("dermatology ", "DERMATOLOGY", True),
    ("Nutrition", "Nutrition and Dietetics", True),
    ("Pediatric  dermatology", "Dermatology", True),
    ("Cardiology", "Dermatology", False),
    ("", "Dermatology", False),
    ("Dermatology", "", False),
    (None, None, False),
])
def test_specialty_matches_either_way_ignoring_case_and_spacing(topic, specialty, matches):
    assert specialty_matches(topic, specialty) is matches


def test_rank_weighs_match_then_workload_then_turnaround():
    rows = [
        Suggestion(person(1, "Slow match"), "Dermatology", True, 1, 9.0),
        Suggestion(person(2, "Busy match"), "Dermatology", True, 3, 0.5),
        Suggestion(person(3, "Quick match"), "Dermatology", True, 1, 2.0),
        Suggestion(person(4, "New match"), "Dermatology", True, 1, None),
        Suggestion(person(5, "Idle stranger"), "Cardiology", False, 0, 0.1),
        Suggestion(person(6, "Expired match"), "Dermatology", True, 0, 0.1, reason="Licence expired."),
    ]
    assert [s.user.name for s in rank(rows)] == ["Quick match", "Slow match", "New match", "Busy match",
                                                 "Idle stranger", "Expired match"]
    assert preselected(rank(rows)).user.name == "Quick match"
    assert match_warning("Dermatology", rank(rows)) is None


def test_each_suggestion_says_why():
    assert Suggestion(person(1), "Dermatology", True, 2, 3.2).why == "Dermatology · matches topic · 2 open reviews · " \
                                                                    "usually 3 days"
    assert Suggestion(person(1), "Pharmacology", False, 1, 0.2).why == "Pharmacology · 1 open review · " \
                                                                      "usually within a day"
    assert Suggestion(person(1), "", False, 0, None).why == "no specialty · 0 open reviews · no signed reviews yet"
    assert Suggestion(person(1), "X", False, 0, 1.0).why.endswith("usually 1 day")


def test_nobody_matching_preselects_nobody_and_warns():
    rows = rank([Suggestion(person(1, "Omar"), "Pharmacology", False, 0, 1.0),
                 Suggestion(person(2, "Hana"), "Nutrition", False, 2, 1.0)])
    assert preselected(rows) is None
    assert "No reviewer's specialty matches the topic “Cardiology”" in match_warning("Cardiology", rows)
    blocked = rank([*rows, Suggestion(person(3, "Old Licence"), "Cardiology", True, 0, None, reason="Expired.")])
    assert preselected(blocked) is None
    assert "Old Licence matches but cannot be assigned" in match_warning("Cardiology", blocked)
    assert "no topic" in match_warning("", rows)
    assert match_warning("Cardiology", []) is None  # nobody at all: the page says that instead


suggestions = st.builds(
    Suggestion, user=st.builds(person, st.integers(1, 10_000), st.text(max_size=8)),
    specialty=st.sampled_from(["Dermatology", "Pharmacology", ""]), match=st.booleans(),
    workload=st.integers(0, 50), turnaround_days=st.none() | st.floats(0, 400, allow_nan=False),
    reason=st.none() | st.just("Licence expired."))


@settings(max_examples=300, deadline=None)
@given(st.lists(suggestions, max_size=12))
def test_a_matching_available_reviewer_always_ranks_above_a_non_matching_one(rows):
    ranked = rank(rows)
    assert sorted(map(id, ranked)) == sorted(map(id, rows))
    for i, better in enumerate(ranked):
        for worse in ranked[i + 1:]:
            assert not (worse.available and worse.match and not better.match), (better, worse)
            assert not (worse.available and not better.available)
    chosen = preselected(ranked)
    if any(s.available and s.match for s in rows):
        assert chosen is not None and chosen.available and chosen.match
        assert match_warning("Dermatology", ranked) is None
    else:
        assert chosen is None  # never an unavailable reviewer, never one outside the topic
        assert (match_warning("Dermatology", ranked) is None) == (not any(s.available for s in rows))


# The ranking on real data -------------------------------------------------------------------------

def _sign_after(db, article, reviewer, days: float) -> None:
    """Approve the article's current revision, the signature dated ``days`` after the reviewer could start."""
    reviews.sign_decision(reviewer, article, article.current_revision, "approve", PASSWORD, checklist=CHECKLIST)
    db.session.commit()
    decision = db.session.scalar(select(Decision).where(Decision.article_id == article.id))
    assignment = db.session.get(ReviewAssignment, decision.assignment_id)
    db.session.execute(update(Decision).where(Decision.id == decision.id)
                       .values(signed_at=assignment.assigned_at + timedelta(days=days)))
    db.session.commit()


def test_suggestions_use_open_workload_and_median_turnaround(db, cast):
    quick = make_user("reviewer", name="Quinn Quick", specialty="Dermatology")
    for days in (1.1, 2.2, 8.0):  # median 2.2 days
        _sign_after(db, make_article(cast["writer"], "in_review", reviewer=quick, editor=cast["editor"]), quick, days)
    _sign_after(db, make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"]),
                cast["rev"], 6.0)
    make_article(cast["writer2"], "in_review", reviewer=cast["rev2"], editor=cast["editor"], topic="Pharmacology")
    article = make_article(cast["writer"], "submitted")

    rows = reviews.suggested_reviewers(article)
    by_name = {row.user.name: row for row in rows}
    assert by_name["Quinn Quick"].turnaround_days == pytest.approx(2.2, abs=0.01)
    assert by_name["Quinn Quick"].why == "Dermatology · matches topic · 0 open reviews · usually 2 days"
    assert by_name["Dana Okafor"].why == "Dermatology · matches topic · 0 open reviews · usually 6 days"
    assert by_name["Ravi Senn"].why == "Pharmacology · 1 open review · no signed reviews yet"
    assert [row.user.name for row in rows][:3] == ["Quinn Quick", "Dana Okafor", "Ravi Senn"]
    assert not by_name["Old Licence"].available and rows.index(by_name["Old Licence"]) > 2
    assert preselected(rows).user.name == "Quinn Quick"
    assert queries.turnaround_days([quick.id]) == {quick.id: pytest.approx(2.2, abs=0.01)}


def test_turnaround_counts_only_the_latest_decisions(db, cast):
    """Three quick decisions signed first, then two slow ones: the latest two alone are slow."""
    reviewer = make_user("reviewer", name="Lee Later")
    for days in (1.0, 1.0, 1.0, 30.0, 30.0):
        _sign_after(db, make_article(cast["writer"], "in_review", reviewer=reviewer, editor=cast["editor"]),
                    reviewer, days)
    assert queries.turnaround_days([reviewer.id], latest=5)[reviewer.id] == pytest.approx(1.0, abs=0.01)
    assert queries.turnaround_days([reviewer.id], latest=2)[reviewer.id] == pytest.approx(30.0, abs=0.01)
    assert queries.turnaround_days([cast["rev2"].id]) == {}


def test_unavailable_reviewers_are_never_preselected(db, cast):
    """The only cardiologists cannot serve (expired, unverified, inactive): nobody is preselected."""
    make_user("reviewer", name="Old Heart", specialty="Cardiology", license_expires="2020-01-01")
    make_user("reviewer", name="Una Verified", specialty="Cardiology", verified=False)
    inactive = make_user("reviewer", name="Ina Active", specialty="Cardiology")
    inactive.active = False
    db.session.commit()
    article = make_article(cast["writer"], "submitted", topic="Cardiology")
    rows = reviews.suggested_reviewers(article)
    matching = [row for row in rows if row.match]
    assert {row.user.name for row in matching} == {"Old Heart", "Una Verified", "Ina Active"}
    assert all(not row.available for row in matching) and all(row.available for row in rows[:2])
    assert preselected(rows) is None
    assert "match but cannot be assigned" in match_warning(article.topic, rows)
    for row in matching:
        with pytest.raises(ReviewerUnavailable):
            reviews.assign_reviewer(cast["editor"], article, row.user.id)
        db.session.rollback()


# The assignment page ------------------------------------------------------------------------------

def test_page_preselects_the_best_match_with_its_reasons(cast, login, client):
    article = make_article(cast["writer"], "submitted")
    login(cast["editor"])
    html = client.get(f"/work/articles/{article.id}/assign").get_data(as_text=True)
    assert _selected(html) == str(cast["rev"].id)
    assert "No specialty match" not in html
    text = _text(html)
    assert "Dana Okafor, M.D., Ph.D. · Dermatology · matches topic · 0 open reviews · no signed reviews yet" in text
    assert "Suggested" in text and "Ravi Senn" in text
    default_due = (utcnow().date() + timedelta(days=7)).isoformat()
    assert f'value="{default_due}"' in html


def test_page_warns_and_preselects_nobody_when_no_specialty_matches(db, cast, login, client):
    article = make_article(cast["writer"], "submitted", topic="Cardiology")
    login(cast["editor"])
    response = client.get(f"/work/articles/{article.id}/assign")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="no-match-warning"' in html
    assert "No reviewer's specialty matches the topic “Cardiology”" in unescape(html)
    assert _selected(html) in (None, "")
    assert "Suggested" not in _text(html)

    # Sending the form without choosing is refused beside the field, and assigns nobody.
    refused = client.post(f"/work/articles/{article.id}/assign", data={"reviewer": ""})
    assert refused.status_code == 400 and "Choose a reviewer." in refused.get_data(as_text=True)
    assert db.session.scalar(select(ReviewAssignment).where(ReviewAssignment.article_id == article.id)) is None

    # Choosing someone outside the specialty deliberately works, and says so.
    chosen = client.post(f"/work/articles/{article.id}/assign", data={"reviewer": cast["rev2"].id},
                         follow_redirects=True)
    assert "outside the topic “Cardiology”" in chosen.get_data(as_text=True)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "reviewer.assigned",
                                                       AuditEvent.article_id == article.id))
    assert '"specialty_match":false' in event.details


def test_api_assigns_outside_the_specialty_without_ceremony(db, cast, api):
    article = make_article(cast["writer"], "submitted", topic="Cardiology")
    response = api(cast["editor"], "POST", f"/articles/{article.id}/assignments", json={"reviewer_id": cast["rev2"].id})
    assert response.status_code == 201 and response.get_json()["due_date"] is None


def test_the_default_due_date_follows_the_setting(app, cast, login, client):
    app.config["REVIEW_DUE_DAYS"] = 10
    article = make_article(cast["writer"], "submitted")
    login(cast["editor"])
    html = client.get(f"/work/articles/{article.id}/assign").get_data(as_text=True)
    assert f'value="{(utcnow().date() + timedelta(days=10)).isoformat()}"' in html


# Who may assign, every role -----------------------------------------------------------------------

ROLES = {
    # persona: (status of the page and of a POST, the service's refusal or None)
    "editor": (200, None),
    "editor who wrote the article": (200, None),
    "writer of the article": (403, Forbidden),
    "another writer": (404, NotFound),
    "assigned reviewer": (403, Forbidden),
    "unassigned reviewer": (404, NotFound),
    "admin": (403, Forbidden),
}


def _persona(cast, name: str):
    return {
        "editor": cast["editor"], "writer of the article": cast["writer"], "another writer": cast["writer2"],
        "unassigned reviewer": cast["rev2"], "admin": cast["admin"],
    }.get(name)


@pytest.mark.parametrize("who", list(ROLES))
def test_who_may_assign(db, cast, login, client, who):
    page_status, refusal = ROLES[who]
    writer = cast["writer"]
    if who == "editor who wrote the article":
        writer = make_user("editor", "writer", name="Edda Writes")
    article = make_article(writer, "in_review", reviewer=cast["rev"], editor=cast["editor"])
    actor = {"editor who wrote the article": writer, "assigned reviewer": cast["rev"]}.get(who) or _persona(cast, who)
    target = make_user("reviewer", name="Nova Newcomer", specialty="Dermatology")

    login(actor)
    assert client.get(f"/work/articles/{article.id}/assign").status_code == page_status
    posted = client.post(f"/work/articles/{article.id}/assign", data={"reviewer": target.id})
    assert posted.status_code == (303 if refusal is None else page_status)
    assigned = db.session.scalar(select(ReviewAssignment).where(ReviewAssignment.article_id == article.id,
                                                                ReviewAssignment.reviewer_id == target.id))
    assert (assigned is not None) is (refusal is None)
    if refusal is not None:
        with pytest.raises(refusal):
            reviews.assign_reviewer(actor, article, target.id)
        db.session.rollback()


def test_inactive_editor_and_anonymous_cannot_assign(db, cast, client):
    article = make_article(cast["writer"], "submitted")
    assert client.get(f"/work/articles/{article.id}/assign").status_code == 302  # to the log-in page
    cast["editor"].active = False
    db.session.commit()
    with pytest.raises(NotFound):
        reviews.assign_reviewer(cast["editor"], article, cast["rev"].id)


def test_an_editor_cannot_assign_in_the_wrong_state(db, cast, login, client):
    """An unpublished article takes no reviewer: 409, after the 404 and 403 checks passed."""
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    login(cast["editor"])
    unpublish = client.post(f"/work/articles/{article.id}/unpublish", data={"reason": "Outdated advice."})
    assert unpublish.status_code == 303, unpublish.get_data(as_text=True)[:300]
    assert client.post(f"/work/articles/{article.id}/assign", data={"reviewer": cast["rev2"].id}).status_code == 409
    page = client.get(f"/work/articles/{article.id}/assign")
    assert page.status_code == 409 and "Reviewers cannot be assigned to an article that is unpublished" in _text(
        page.get_data(as_text=True))


# The editors' list of reviews in progress ---------------------------------------------------------

def test_editor_dashboard_lists_reviews_in_progress_overdue_first(db, cast, login, client):
    today = utcnow().date()
    dates = {"Later one": 12, "Late one": -3, "Undated one": None, "Soon one": 1}
    for title, offset in dates.items():
        article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], title=title)
        db.session.execute(update(ReviewAssignment).where(ReviewAssignment.article_id == article.id).values(
            due_date=None if offset is None else today + timedelta(days=offset)))
    db.session.commit()
    login(cast["editor"])
    html = client.get("/dashboard").get_data(as_text=True)
    section = html[html.index('id="in-review-heading"'):]
    section = section[:section.index("<h3>")]
    titles = re.findall(r">((?:Later|Late|Undated|Soon) one)</a>", section)
    assert titles == ["Late one", "Soon one", "Later one", "Undated one"]
    text = _text(section)
    assert f"Overdue · due {human_date(today - timedelta(days=3))} (3 days ago)" in text
    assert f"Due soon · due {human_date(today + timedelta(days=1))} (in 1 day)" in text
    assert f"due {human_date(today + timedelta(days=12))} (in 12 days)" in text
    assert "No due date" in text and "Dana Okafor, M.D., Ph.D." in text
    assert "Reviews overdue 1" in _text(html)


def test_reviews_in_progress_counts_and_limits(db, cast):
    today = utcnow().date()
    for n in range(3):
        article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], title=f"T{n}")
        db.session.execute(update(ReviewAssignment).where(ReviewAssignment.article_id == article.id)
                           .values(due_date=today - timedelta(days=n)))
    articles.create_article(cast["writer"], "Not in review", "Body.", "Dermatology")
    db.session.commit()
    found = queries.reviews_in_progress(limit=2)
    assert (found.total, found.overdue, found.due_soon, len(found.rows)) == (3, 2, 1, 2)
    assert [article.title for _, article in found.rows] == ["T2", "T1"]
