"""E-mail digests: grouped by article with the comment texts, at most hourly (or daily at 08:00 in the
person's zone), as each person chose, claimed so that two runs never send one twice; and the mails that
must not wait (password reset, password changed, invitation) go at once whatever anyone chose."""
from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from reviewflow.articles.models import Article
from reviewflow.auth import resets
from reviewflow.auth import services as accounts
from reviewflow.extensions import db, utcnow
from reviewflow.notifications import digests
from reviewflow.notifications.digests import GATHER, HOURLY, daily_boundary, send_digests
from reviewflow.notifications.models import Notification, NotificationSettings, OutboxEmail
from reviewflow.notifications.services import DETAIL_MAX, notify
from reviewflow.preferences.services import set_email_mode
from reviewflow.reviews import services as reviews
from tests.factories import PASSWORD, make_article

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def mails_to(user) -> list[OutboxEmail]:
    return list(db.session.scalars(select(OutboxEmail).where(OutboxEmail.to_address == user.email)
                                   .order_by(OutboxEmail.id)))


def note_at(user, when: datetime, text: str, **about) -> Notification:
    """A notification as if it had happened at ``when``."""
    note = notify(user, text, "/work/articles/1", **about)
    note.created_at = when
    db.session.commit()
    return note


def test_a_digest_groups_by_article_and_quotes_each_comment(app, cast):
    """The reviewer's pass over an article (two annotations, then a reply) reaches the writer as one
    e-mail: the article's counts, each comment quoted, and the link on the public site."""
    app.config["PUBLIC_URL"] = "https://health.example.org"
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    other = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], title="Sun safety")
    first = reviews.add_annotation(cast["rev"], article, 1, "three minutes", "Cite a source for the timing.")
    reviews.add_annotation(cast["rev"], article, 1, "lukewarm", "Say what lukewarm means in degrees.", blocking=True)
    reviews.add_annotation(cast["rev"], other, 1, "Wool", "Wool is fine for some people.")
    db.session.commit()
    reviews.reply_to_annotation(cast["editor"], first, "The NICE guideline says within minutes.")
    db.session.commit()

    assert mails_to(cast["writer"]) == []  # nothing goes one by one: the default is the hourly digest
    assert send_digests(now=db.session.scalar(select(func.max(Notification.created_at))) + GATHER) >= 1
    (mail,) = mails_to(cast["writer"])
    assert mail.subject == "[reviewflow] 4 notifications on 2 articles"
    body = mail.body
    assert "3 new on “Eczema in winter”: 2 annotations, 1 reply" in body
    assert "1 new on “Sun safety”: 1 annotation" in body
    assert body.index("Eczema in winter") < body.index("Sun safety")  # newest activity first: the reply
    for comment in ("Cite a source for the timing.", "Say what lukewarm means in degrees.",
                    "The NICE guideline says within minutes.", "Wool is fine for some people."):
        assert f"> {comment}" in body
    assert f"https://health.example.org/work/articles/{article.id}/review" in body
    assert "https://health.example.org/account/preferences" in body
    notes = db.session.scalars(select(Notification).where(Notification.user_id == cast["writer"].id,
                                                          Notification.kind.in_(["annotation", "reply"]))).all()
    assert len(notes) == 4 and {n.digest_id for n in notes} == {mail.id} and {n.mail for n in notes} == {"queued"}


def test_a_request_for_changes_carries_its_reason(cast):
    make_article(cast["writer"], "changes_requested", reviewer=cast["rev"], editor=cast["editor"])
    note = db.session.scalar(select(Notification).where(Notification.kind == "changes_requested"))
    assert note.user_id == cast["writer"].id and note.detail == "Needs a source." and note.article_title


def test_a_long_comment_is_cut_in_the_notification(cast):
    note = notify(cast["writer"], "Dana annotated", detail="word " * 400)
    assert len(note.detail) <= DETAIL_MAX and note.detail.endswith("…")


def test_at_most_one_digest_an_hour(cast):
    writer = cast["writer"]
    note_at(writer, T0, "First")
    assert send_digests(now=T0 + GATHER - timedelta(seconds=1)) == 0  # the first one gathers company first
    assert send_digests(now=T0 + GATHER) == 1
    note_at(writer, T0 + timedelta(minutes=15), "Second")
    note_at(writer, T0 + timedelta(minutes=40), "Third")
    assert send_digests(now=T0 + GATHER + HOURLY - timedelta(seconds=1)) == 0
    assert send_digests(now=T0 + GATHER + HOURLY) == 1
    first, second = mails_to(writer)
    assert "First" in first.body and "Second" not in first.body
    assert "Second" in second.body and "Third" in second.body and "First" not in second.body
    assert send_digests(now=T0 + timedelta(days=3)) == 0  # nothing waits any more


def test_running_again_queues_nothing_twice(cast):
    note_at(cast["writer"], T0, "Once")
    now = T0 + timedelta(hours=2)
    assert send_digests(now=now) == 1
    assert send_digests(now=now) == 0 and send_digests(now=now + timedelta(hours=5)) == 0
    assert len(mails_to(cast["writer"])) == 1


def test_a_run_that_loses_the_claim_to_another_queues_nothing(cast, monkeypatch):
    """Two runs at once: the second run's claim comes after the first run committed the person's digest;
    its conditional UPDATE finds the digest no longer due, so only one e-mail is queued."""
    note_at(cast["writer"], T0, "Raced")
    now = T0 + timedelta(hours=2)
    real = digests._digest_for
    calls = []

    def other_run_first(user_id, oldest, at):
        if not calls:
            calls.append(user_id)
            assert real(user_id, oldest, at) == 1  # the other run, between our scan and our claim
            db.session.commit()
            note_at(cast["writer"], T0, "Came in meanwhile")  # waits: an hour has not passed
        return real(user_id, oldest, at)

    monkeypatch.setattr(digests, "_digest_for", other_run_first)
    assert send_digests(now=now) == 0
    assert len(mails_to(cast["writer"])) == 1
    assert db.session.scalar(select(Notification.mail).where(Notification.text == "Came in meanwhile")) == "pending"


def test_a_digest_that_finds_a_notification_taken_is_undone(cast, monkeypatch):
    """The second safety: a digest only goes when it takes every notification it lists from "pending"."""
    first = note_at(cast["writer"], T0, "Taken meanwhile")
    note_at(cast["writer"], T0, "Still waiting")
    real_body = digests.digest_body

    def body_while_another_takes_one(user, notes, mode):
        db.session.execute(Notification.__table__.update().where(Notification.id == first.id)
                           .values(mail="queued"))
        return real_body(user, notes, mode)

    monkeypatch.setattr(digests, "digest_body", body_while_another_takes_one)
    assert send_digests(now=T0 + timedelta(hours=2)) == 0
    assert mails_to(cast["writer"]) == []
    assert db.session.get(Notification, first.id).mail == "pending"  # rolled back with the digest


def test_the_daily_digest_goes_at_eight_in_the_persons_time_zone(cast):
    writer = cast["writer"]
    writer.time_zone = "Asia/Tokyo"  # 08:00 JST is 23:00 UTC the day before
    set_email_mode(writer, "daily")
    db.session.commit()
    note_at(writer, datetime(2026, 12, 7, 10, 0, tzinfo=UTC), "Evening news")  # 19:00 JST
    assert send_digests(now=datetime(2026, 12, 7, 22, 59, tzinfo=UTC)) == 0  # 07:59 JST
    assert send_digests(now=datetime(2026, 12, 7, 23, 0, tzinfo=UTC)) == 1  # 08:00 JST
    note_at(writer, datetime(2026, 12, 7, 23, 30, tzinfo=UTC), "Morning news")
    assert send_digests(now=datetime(2026, 12, 8, 14, 0, tzinfo=UTC)) == 0  # 23:00 JST: tomorrow morning
    assert send_digests(now=datetime(2026, 12, 8, 23, 0, tzinfo=UTC)) == 1
    assert [("Evening news" in m.body, "Morning news" in m.body) for m in mails_to(writer)] == [(True, False),
                                                                                                 (False, True)]


@pytest.mark.parametrize("zone, now, expected", [
    ("UTC", datetime(2026, 12, 7, 7, 59, tzinfo=UTC), datetime(2026, 12, 6, 8, 0, tzinfo=UTC)),
    ("UTC", datetime(2026, 12, 7, 8, 0, tzinfo=UTC), datetime(2026, 12, 7, 8, 0, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 3, 8, 12, 30, tzinfo=UTC), datetime(2026, 3, 8, 12, 0, tzinfo=UTC)),  # EDT
    ("America/New_York", datetime(2026, 3, 7, 13, 30, tzinfo=UTC), datetime(2026, 3, 7, 13, 0, tzinfo=UTC)),  # EST
    ("Not/AZone", datetime(2026, 12, 7, 9, 0, tzinfo=UTC), datetime(2026, 12, 7, 8, 0, tzinfo=UTC)),
])
def test_the_daily_boundary_follows_the_zone_and_its_summer_time(zone, now, expected):
    assert daily_boundary(now, zone) == expected


def test_immediately_queues_one_mail_each_with_the_comment(cast):
    set_email_mode(cast["writer"], "immediately")
    note = notify(cast["writer"], "Dana annotated “Eczema”.", "/work/articles/1/review", kind="annotation",
                  detail="Cite a source.\nAnd the dose.")
    db.session.commit()
    (mail,) = mails_to(cast["writer"])
    assert mail.subject == "[reviewflow] Dana annotated “Eczema”." and "> Cite a source.\n> And the dose." in mail.body
    assert note.mail == "queued" and note.digest_id == mail.id
    assert send_digests(now=T0 + timedelta(days=1)) == 0


def test_off_sends_no_mail_and_what_waited_is_dropped_from_email(cast):
    waiting = note_at(cast["writer"], T0, "Waited for a digest")
    set_email_mode(cast["writer"], "off")
    db.session.commit()
    quiet = notify(cast["writer"], "After choosing off")
    db.session.commit()
    assert quiet.mail == "none"
    send_digests(now=T0 + timedelta(hours=2))
    assert mails_to(cast["writer"]) == [] and db.session.get(Notification, waiting.id).mail == "none"
    assert db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.user_id == cast["writer"].id)) == 2  # both in the list


def test_switching_to_immediately_sends_what_waited_at_the_next_run(cast):
    note_at(cast["writer"], T0, "Waited")
    set_email_mode(cast["writer"], "immediately")
    db.session.commit()
    assert send_digests(now=T0 + timedelta(minutes=1)) == 1  # no hour, no gathering
    assert "Waited" in mails_to(cast["writer"])[0].body


@pytest.mark.parametrize("mode", ["off", "daily", "hourly"])
def test_mail_that_must_not_wait_goes_at_once_whatever_the_choice(cast, mode):
    """Password reset, "your password was changed" and invitations are queued at once and never
    enter a digest, whatever the person chose."""
    writer = cast["writer"]
    set_email_mode(writer, mode)
    db.session.commit()
    resets.request_reset(writer.email)
    accounts.change_password(writer, PASSWORD, "Another-Long-Passw0rd!")
    db.session.commit()
    subjects = [m.subject for m in mails_to(writer)]
    assert subjects == ["[reviewflow] Reset your password", "[reviewflow] Your password was changed"]
    assert db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.user_id == writer.id)) == 0


def test_the_command_queues_digests_and_send_mail_runs_them_first(app, cast):
    an_hour_ago = utcnow() - HOURLY
    note_at(cast["writer"], an_hour_ago, "From cron")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["send-digests"])
    assert result.exit_code == 0 and "1 digest queued." in result.output
    assert runner.invoke(args=["send-digests"]).output.strip() == "0 digests queued."
    note_at(cast["writer2"], an_hour_ago, "Also from cron")
    result = runner.invoke(args=["send-mail"])
    assert result.exit_code == 0 and "1 digest queued." in result.output and ", 0 failed." in result.output
    assert all(m.sent_at for m in mails_to(cast["writer"]) + mails_to(cast["writer2"]))
    note_at(cast["writer2"], an_hour_ago, "Not with --no-digests")
    assert "digest" not in runner.invoke(args=["send-mail", "--no-digests"]).output
    assert db.session.scalar(select(func.count()).select_from(Notification).where(Notification.mail == "pending")) == 1


# Every waiting notification goes out in exactly one digest ------------------------------------------

events = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 300)), max_size=12)
runs = st.lists(st.integers(0, 400), max_size=8)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=events, runs=runs, modes=st.lists(st.sampled_from(["hourly", "daily", "immediately"]),
                                                  min_size=3, max_size=3))
def test_every_waiting_notification_is_in_exactly_one_digest_at_most_hourly(cast, events, runs, modes):
    """Whatever the events, choices and the times cron runs, every notification that waited is carried by
    exactly one e-mail that quotes it, and no hourly person gets two digests within an hour."""
    for table in (Notification, NotificationSettings, OutboxEmail):
        db.session.execute(delete(table))
    people = [cast["writer"], cast["writer2"], cast["editor"]]
    articles = db.session.scalars(select(Article.id).order_by(Article.id)).all() or [
        make_article(cast["writer"]).id, make_article(cast["writer"], title="Sun safety").id]
    for person, mode in zip(people, modes, strict=True):
        set_email_mode(person, mode)
    db.session.commit()
    for n, (who, article, minute) in enumerate(events):
        note_at(people[who], T0 + timedelta(minutes=minute), f"Event {n} on article {article}",
                article=None if article == 0 else articles[article - 1], kind="annotation", detail=f"Comment {n}.")
    sent_at: dict[int, list[datetime]] = {}
    for minute in [*sorted(runs), 60 * 24 * 3]:
        before = {m.id for m in db.session.scalars(select(OutboxEmail))}
        now = T0 + timedelta(minutes=minute)
        send_digests(now=now)
        for mail in db.session.scalars(select(OutboxEmail).where(OutboxEmail.id.not_in(before))):
            sent_at.setdefault(mail.to_address, []).append(now)
    notes = db.session.scalars(select(Notification)).all()
    assert len(notes) == len(events)
    for note in notes:
        mail = db.session.get(OutboxEmail, note.digest_id)
        assert note.mail == "queued" and mail is not None and f"> {note.detail}" in mail.body
        assert sum(note.text in m.body for m in db.session.scalars(select(OutboxEmail))) == 1
    for person, mode in zip(people, modes, strict=True):
        times = sent_at.get(person.email, [])
        if mode == "hourly":
            assert all(b - a >= HOURLY for a, b in itertools.pairwise(times))
        if mode == "daily":
            assert all(b - a >= timedelta(hours=23) for a, b in itertools.pairwise(times))


# Runs at the same moment, each with its own connection ------------------------------------------------


@pytest.mark.real_commits
def test_runs_at_the_same_moment_queue_one_digest_per_person(app, cast, is_postgres):
    """Several cron runs started together (threads, each its own session and connection): every person
    with notifications waiting gets exactly one digest, carrying each notification once."""
    people = [cast[k] for k in ("writer", "writer2", "editor", "admin", "rev", "rev2")]
    for person in people:
        for n in range(3):
            note_at(person, T0, f"For {person.name}, {n}")
    now = T0 + timedelta(hours=2)
    runs = 6 if is_postgres else 3
    barrier = threading.Barrier(runs)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                send_digests(now=now)
                db.session.remove()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, name=f"digests-{n}") for n in range(runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads) and errors == []
    db.session.expire_all()
    for person in people:
        (mail,) = mails_to(person)
        notes = db.session.scalars(select(Notification).where(Notification.user_id == person.id)).all()
        assert {n.digest_id for n in notes} == {mail.id} and all(f"* {n.text}" in mail.body for n in notes)
