"""Reminders of review due dates (``flask remind-reviewers``): one before the date, then while overdue at most
every few days, each an in-app notification, an e-mail in the outbox and an audit event; never twice, even when
two runs overlap."""
from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from reviewflow.articles.models import Article
from reviewflow.audit.models import AuditEvent
from reviewflow.extensions import db as _db
from reviewflow.extensions import utcnow
from reviewflow.notifications.digests import send_digests
from reviewflow.notifications.models import Notification, OutboxEmail
from reviewflow.preferences.services import set_email_mode
from reviewflow.reviews import reminders
from reviewflow.reviews import services as reviews
from reviewflow.reviews.models import ReviewAssignment
from reviewflow.reviews.reminders import remind_reviewers
from reviewflow.textrules import human_date
from tests.factories import CHECKLIST, PASSWORD, make_article, make_user


def _assign(db, cast, due_in: int | None, title: str = "Eczema in winter", reviewer=None) -> ReviewAssignment:
    """A submitted article assigned to ``reviewer`` (Dana) today, due ``due_in`` days from today."""
    article = make_article(cast["writer"], "submitted", title=title)
    due = None if due_in is None else utcnow().date() + timedelta(days=due_in)
    assignment = reviews.assign_reviewer(cast["editor"], article, (reviewer or cast["rev"]).id, due)
    db.session.commit()
    return assignment


def _run(days_later: int):
    """One run of the command, ``days_later`` days from now."""
    return remind_reviewers(now=utcnow() + timedelta(days=days_later))


def _notes(db, user) -> list[str]:
    return list(db.session.scalars(select(Notification.text).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


def _reminder_events(db) -> list[dict]:
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "review.reminded").order_by(AuditEvent.seq))
    return [{**json.loads(e.details), "actor_role": e.actor_role, "article_id": e.article_id} for e in rows]


def _mails_to(db, user) -> int:
    return db.session.scalar(select(func.count()).select_from(OutboxEmail).where(OutboxEmail.to_address == user.email))


@pytest.mark.parametrize("mode", ["immediately", "hourly"])
def test_a_reminder_before_the_due_date_goes_out_once(db, cast, mode):
    """By e-mail as the reviewer chose: an e-mail of its own at once, or a line in the next hourly digest."""
    set_email_mode(cast["rev"], mode)
    assignment = _assign(db, cast, due_in=3)
    before, mails = len(_notes(db, cast["rev"])), _mails_to(db, cast["rev"])  # the assignment's own notice
    assert _run(0).total == 0  # assigned today, and three days ahead is not yet "soon"
    done = _run(1)
    assert (done.due_soon, done.overdue, done.editors) == (1, 0, 0)
    due = human_date(assignment.due_date)
    assert _notes(db, cast["rev"])[before:] == [f"Reminder: your review of “Eczema in winter” is due on {due}."]
    if mode == "hourly":
        assert _mails_to(db, cast["rev"]) == mails  # it waits for the digest, which carries it once
        assert send_digests(now=utcnow() + timedelta(hours=1)) >= 1
    assert _mails_to(db, cast["rev"]) == mails + 1
    reminder = _db.session.scalars(select(OutboxEmail.body).where(OutboxEmail.to_address == cast["rev"].email)
                                   .order_by(OutboxEmail.id.desc())).first()
    assert f"Reminder: your review of “Eczema in winter” is due on {due}." in reminder
    assert _reminder_events(db) == [{"reviewer": "Dana Okafor, M.D., Ph.D.", "reviewer_id": cast["rev"].id,
                                     "kind": "due_soon", "due_date": assignment.due_date.isoformat(),
                                     "actor_role": "system", "article_id": assignment.article_id}]
    for later in (1, 2, 3):
        assert _run(later).due_soon == 0
    send_digests(now=utcnow() + timedelta(days=3))
    assert len(_reminder_events(db)) == 1 and _mails_to(db, cast["rev"]) == mails + 1


def test_the_reminder_says_today_on_the_day(db, cast):
    _assign(db, cast, due_in=2)
    assert _run(2).due_soon == 1
    assert _notes(db, cast["rev"])[-1] == "Reminder: your review of “Eczema in winter” is due today."


def test_overdue_reminders_repeat_every_few_days_and_tell_the_editor_once(app, db, cast):
    assert app.config["REVIEW_OVERDUE_REPEAT_DAYS"] == 3
    assignment = _assign(db, cast, due_in=1)
    due = human_date(assignment.due_date)
    done = _run(2)
    assert (done.due_soon, done.overdue, done.editors) == (0, 1, 1)
    assert _notes(db, cast["rev"])[-1] == (f"Your review of “Eczema in winter” is overdue: it was due on {due}. "
                                           "Please review it now, or tell the editor if you cannot.")
    assert _notes(db, cast["editor"])[-1] == (f"Dana Okafor, M.D., Ph.D.'s review of “Eczema in winter” is overdue "
                                              f"(due {due}). Remind them, or assign another reviewer.")
    assert [_run(n).total for n in (2, 3, 4)] == [0, 0, 0]  # same day, then within three days
    second = _run(5)
    assert (second.overdue, second.editors) == (1, 0)
    assert [e["count"] for e in _reminder_events(db)] == [1, 2]
    assert [e["kind"] for e in _reminder_events(db)] == ["overdue", "overdue"]
    row = db.session.get(ReviewAssignment, assignment.id, populate_existing=True)
    assert row.overdue_reminders == 2 and row.due_reminder_at is None


def test_no_reminder_for_decided_withdrawn_undated_or_inactive(db, cast):
    approved = _assign(db, cast, due_in=1, title="Approved one")
    article = db.session.get(ReviewAssignment, approved.id).article_id
    reviews.sign_decision(cast["rev"], db.session.get(Article, article), 1, "approve", PASSWORD, checklist=CHECKLIST)
    db.session.commit()
    withdrawn = _assign(db, cast, due_in=1, title="Withdrawn one")
    reviews.withdraw_assignment(cast["editor"], db.session.get(Article, withdrawn.article_id),
                                db.session.get(ReviewAssignment, withdrawn.id))
    db.session.commit()
    _assign(db, cast, due_in=None, title="Undated one")
    gone = make_user("reviewer", name="Gone Away", specialty="Dermatology")
    _assign(db, cast, due_in=1, title="Inactive one", reviewer=gone)
    gone.active = False
    db.session.commit()
    assert [_run(n).total for n in (0, 1, 3, 10)] == [0, 0, 0, 0]
    assert _reminder_events(db) == []


def test_assigning_again_starts_the_reminders_afresh(db, cast):
    """A re-review of a live article is reminded like any review; withdrawing the reviewer and assigning them
    again, with a new date, starts the count afresh on the same assignment."""
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    today = utcnow().date()
    reviews.assign_reviewer(cast["editor"], article, cast["rev"].id, today + timedelta(days=1))  # the re-review
    db.session.commit()
    assert _run(3).overdue == 1
    row = db.session.scalar(select(ReviewAssignment).where(ReviewAssignment.article_id == article.id))
    reviews.withdraw_assignment(cast["editor"], db.session.get(Article, article.id), row)
    db.session.commit()
    again = reviews.assign_reviewer(cast["editor"], db.session.get(Article, article.id), cast["rev"].id,
                                    today + timedelta(days=4))
    db.session.commit()
    assert again.id == row.id
    row = db.session.get(ReviewAssignment, row.id, populate_existing=True)
    assert (row.overdue_reminder_at, row.overdue_reminders, row.due_reminder_at) == (None, 0, None)
    assert _run(3).due_soon == 1 and _run(5).overdue == 1
    assert [(e["kind"], e.get("count")) for e in _reminder_events(db)] == [("overdue", 1), ("due_soon", None),
                                                                         ("overdue", 1)]


@pytest.mark.real_commits
def test_a_run_that_lost_the_race_sends_nothing(app, db, cast, monkeypatch):
    """Two runs overlap: the second finds the same reminders due, the first claims and sends them meanwhile;
    the second's conditional UPDATEs then change nothing, so it sends nothing."""
    for n in range(3):
        _assign(db, cast, due_in=1, title=f"Article {n}")
    found = reminders._candidates
    other: list = []
    stale: list[list[int]] = []

    def racing(where):
        ids = found(where)
        if ids and threading.current_thread() is threading.main_thread() and not stale:
            stale.append(ids)

            def first_run():
                with app.app_context():
                    other.append(_run(2))
                    _db.session.remove()
            thread = threading.Thread(target=first_run)
            thread.start()
            thread.join()
        return ids

    monkeypatch.setattr(reminders, "_candidates", racing)
    late = _run(2)
    assert len(stale[0]) == 3, "the late run must have found the three reminders due"
    assert other[0].overdue == 3 and late.total == 0
    assert len(_reminder_events(db)) == 3
    assert sum("is overdue: it was due" in text for text in _notes(db, cast["rev"])) == 3


@pytest.mark.real_commits
@pytest.mark.parametrize("runs", [2, 4])
def test_runs_at_once_send_each_reminder_exactly_once(app, db, cast, runs):
    for n in range(4):
        _assign(db, cast, due_in=1, title=f"Article {n}")
    start, results, errors = threading.Barrier(runs), [], []

    def run():
        try:
            with app.app_context():
                start.wait()
                results.append(_run(2).overdue)
                _db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(results) == 4
    assert len(_reminder_events(db)) == 4
    assert sum("is overdue: it was due" in text for text in _notes(db, cast["rev"])) == 4
    counts = db.session.scalars(select(ReviewAssignment.overdue_reminders)).all()
    assert sorted(counts) == [1, 1, 1, 1]


def test_the_command_is_cron_friendly(app, db, cast):
    assignment = _assign(db, cast, due_in=1)
    db.session.execute(update(ReviewAssignment).where(ReviewAssignment.id == assignment.id)
                       .values(assigned_at=utcnow() - timedelta(days=1)))
    db.session.commit()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["remind-reviewers"])
    assert first.exit_code == 0, first.output
    assert first.output.strip() == "1 review reminder queued: 1 due soon, 0 overdue (0 editors told)."
    again = runner.invoke(args=["remind-reviewers"])
    assert again.exit_code == 0 and again.output.startswith("0 review reminders queued")
    assert len(_reminder_events(db)) == 1
