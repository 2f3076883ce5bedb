"""Notifications: in the app and by e-mail through the outbox, sent over real SMTP.

The SMTP server is aiosmtpd's, on a loopback port. It refuses recipients at ``refused.example``
for good (550) and those at ``later.example`` for now (451), and counts every recipient it is
offered, so a test sees which mails were tried again.
"""
from __future__ import annotations

import email
import email.policy
import socket
from collections import Counter
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from reviewflow import extensions
from reviewflow.notifications import outbox
from reviewflow.notifications.digests import GATHER, send_digests
from reviewflow.notifications.models import Notification, OutboxEmail
from reviewflow.notifications.outbox import send_outbox
from reviewflow.notifications.services import SUBJECT_MAX, notify, one_line
from reviewflow.preferences.services import set_email_mode
from tests.factories import make_article


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []
        self.offered: Counter[str] = Counter()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.offered[address] += 1
        if address.endswith("@refused.example"):
            return "550 5.1.1 No such mailbox here"
        if address.endswith("@later.example"):
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        return "250 OK"


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def queue(to: str, subject: str = "[reviewflow] Hello", body: str = "Hello.\n") -> OutboxEmail:
    """An outbox row written straight into the table, as an old or a foreign writer may have left it."""
    mail = OutboxEmail(to_address=to, subject=subject, body=body)
    extensions.db.session.add(mail)
    extensions.db.session.commit()
    return mail


def test_assignment_notifies_reviewer_in_app_and_by_mail(app, db, cast, smtp):
    """The reviewer's notification waits for their hourly digest (the default); the digest goes out
    over SMTP like any mail, and nothing is left queued."""
    controller, inbox = smtp
    make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    note = db.session.scalar(select(Notification).where(Notification.user_id == cast["rev"].id))
    assert note is not None and "review" in note.text and note.mail == "pending"
    assert db.session.scalar(select(func.count()).select_from(OutboxEmail)
                             .where(OutboxEmail.to_address == cast["rev"].email)) == 0
    assert send_digests(now=extensions.utcnow() + GATHER) >= 1
    app.config.update(MAIL_SERVER=controller.hostname, MAIL_PORT=controller.port)
    queued = db.session.scalar(select(func.count()).select_from(OutboxEmail).where(OutboxEmail.sent_at.is_(None)))
    sent, failed = send_outbox()
    assert (sent, failed) == (queued, 0) and sent >= 1
    assert sum(cast["rev"].email in rcpt for rcpt, _ in inbox.messages) == 1
    assert any("Eczema in winter" in body for _, body in inbox.messages)
    assert db.session.scalar(select(func.count()).select_from(OutboxEmail).where(OutboxEmail.sent_at.is_(None))) == 0


def test_request_changes_notifies_writer(db, cast):
    make_article(cast["writer"], "changes_requested", reviewer=cast["rev"], editor=cast["editor"])
    texts = db.session.scalars(select(Notification.text).where(Notification.user_id == cast["writer"].id)).all()
    assert any("requested changes" in t for t in texts)


def test_unreachable_server_keeps_mail_queued(app, db, cast):
    make_article(cast["writer"], "submitted")
    make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], title="Second")
    assert send_digests(now=extensions.utcnow() + GATHER) >= 1
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=_free_port())
    sent, failed = send_outbox()
    assert sent == 0 and failed >= 1
    mail = db.session.scalar(select(OutboxEmail).where(OutboxEmail.attempts > 0))
    assert mail.sent_at is None and mail.last_error


def test_unreachable_server_sets_nothing_aside_and_stops_the_run(app, db):
    """An outage is no fault of any mail: each run stops at the first mail instead of waiting out a
    timeout per mail, nothing is set aside, and the whole queue waits out the backoff together."""
    mails = [queue(f"person{n}@example.org") for n in range(3)]
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=_free_port())
    t0 = extensions.utcnow()
    assert send_outbox(now=t0) == (0, 1)
    assert send_outbox(now=t0 + timedelta(seconds=59)) == (0, 0)  # nothing is due before the backoff
    for minutes, attempts in ((1, 2), (3, 3), (7, 4)):  # tried after 1, then 2, then 4 more minutes
        assert send_outbox(now=t0 + timedelta(minutes=minutes)) == (0, 1)
        first, *rest = (db.session.get(OutboxEmail, m.id) for m in mails)
        assert first.attempts == attempts and "unavailable" in first.last_error and first.set_aside_at is None
        assert all(m.attempts == 0 and m.set_aside_at is None for m in rest)
        assert {m.next_attempt_at for m in (first, *rest)} == {t0 + timedelta(minutes=minutes * 2 + 1)}


def test_backoff_doubles_up_to_its_cap():
    assert [outbox.backoff(n) for n in range(1, 8)] == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 30, 30)]
    assert outbox.backoff(10_000) == timedelta(minutes=30)


# One line per subject ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Eczema\r\nBcc: someone@example.org", "Eczema Bcc: someone@example.org"),
    ("tab\there, nul\x00, del\x7f, next line\x85, separators\u2028\u2029end",
     "tab here, nul , del , next line , separators end"),
    ("  spaced \n\n out  ", "spaced out"),
])
def test_one_line_turns_every_control_character_and_break_into_one_space(text, expected):
    assert one_line(text) == expected


def test_one_line_cuts_a_long_text_with_an_ellipsis():
    cut = one_line("word " * 100)
    assert len(cut) == SUBJECT_MAX and cut.endswith("…")


@pytest.mark.parametrize("mode", ["immediately", "hourly"])
def test_a_title_with_a_line_break_queues_a_one_line_subject(db, cast, mode):
    set_email_mode(cast["rev"], mode)
    notify(cast["rev"], "You were asked to review “Eczema\r\nBcc: attacker@example.org”" + " long" * 60)
    db.session.commit()
    send_digests(now=extensions.utcnow() + GATHER)  # the digest of one notification is headed with it
    db.session.commit()
    subject = db.session.scalar(select(OutboxEmail.subject))
    assert subject.startswith("[reviewflow] You were asked to review “Eczema Bcc: attacker@example.org”")
    assert len(subject) <= SUBJECT_MAX
    assert not any(ch in subject for ch in "\r\n\x00")


def test_a_stored_subject_with_a_line_break_still_goes_out_on_one_line(app, db, smtp):
    controller, inbox = smtp
    app.config.update(MAIL_SERVER=controller.hostname, MAIL_PORT=controller.port)
    queue("reader@example.org", subject="Hello\r\nBcc: attacker@example.org")
    assert send_outbox() == (1, 0)
    [(rcpt, raw)] = inbox.messages
    message = email.message_from_string(raw, policy=email.policy.default)
    assert rcpt == ["reader@example.org"] and inbox.offered == {"reader@example.org": 1}
    assert message["Subject"] == "Hello Bcc: attacker@example.org"
    assert message["Bcc"] is None


# Mail set aside -----------------------------------------------------------------------------------

def test_a_mail_that_fails_is_set_aside_and_the_others_go_out(app, db, smtp):
    controller, inbox = smtp
    app.config.update(MAIL_SERVER=controller.hostname, MAIL_PORT=controller.port)
    first = queue("first@example.org")
    refused = queue("nobody@refused.example")
    unbuildable = queue("two@example.org, three@example.org")
    later = queue("busy@later.example")
    last = queue("last@example.org")

    t0 = extensions.utcnow()
    assert send_outbox(now=t0) == (2, 3)
    assert sorted(r for rcpt, _ in inbox.messages for r in rcpt) == ["first@example.org", "last@example.org"]
    for mail in (first, last):
        db.session.refresh(mail)
        assert mail.sent_at is not None and mail.set_aside_at is None
    db.session.refresh(refused)
    assert refused.set_aside_at is not None and refused.attempts == 1 and "550" in refused.last_error
    db.session.refresh(unbuildable)
    assert unbuildable.set_aside_at is not None and unbuildable.attempts == 1
    assert "not one e-mail address" in unbuildable.last_error
    db.session.refresh(later)
    assert later.set_aside_at is None and later.attempts == 1 and "451" in later.last_error

    assert later.next_attempt_at == t0 + timedelta(minutes=1)

    assert send_outbox(now=t0 + timedelta(seconds=30)) == (0, 0)  # it waits out its backoff
    at = t0
    for attempt in range(2, outbox.MAX_ATTEMPTS):  # only the deferred mail is tried again, later each time
        at = later.next_attempt_at
        assert send_outbox(now=at) == (0, 1)
        db.session.refresh(later)
        assert later.set_aside_at is None and later.attempts == attempt
        assert later.next_attempt_at == at + outbox.backoff(attempt)
    assert send_outbox(now=later.next_attempt_at) == (0, 1)
    db.session.refresh(later)
    assert later.set_aside_at is not None and later.attempts == outbox.MAX_ATTEMPTS and "451" in later.last_error
    assert later.next_attempt_at is None

    assert send_outbox(now=t0 + timedelta(days=30)) == (0, 0)  # set-aside mail is never retried on its own
    assert inbox.offered == {"first@example.org": 1, "last@example.org": 1, "nobody@refused.example": 1,
                             "busy@later.example": outbox.MAX_ATTEMPTS}


def test_a_mail_set_aside_commits_before_the_next_one(app, db, smtp, monkeypatch):
    """Each outcome is committed on its own: a crash later in the run keeps what was learnt."""
    controller, _ = smtp
    app.config.update(MAIL_SERVER=controller.hostname, MAIL_PORT=controller.port)
    refused = queue("nobody@refused.example")
    queue("boom@example.org")
    build = outbox.build_message

    def crash_on_boom(mail):
        if mail.to_address.startswith("boom"):
            raise KeyboardInterrupt
        return build(mail)

    monkeypatch.setattr(outbox, "build_message", crash_on_boom)
    t0 = extensions.utcnow()
    with pytest.raises(KeyboardInterrupt):
        send_outbox(now=t0)
    db.session.rollback()
    db.session.refresh(refused)
    assert refused.set_aside_at is not None


def test_a_mail_a_dead_run_had_claimed_goes_out_after_the_claim(app, db, smtp, monkeypatch):
    """A run that died mid-send leaves its mail claimed, not lost: the next run after ``CLAIM`` sends it."""
    controller, inbox = smtp
    app.config.update(MAIL_SERVER=controller.hostname, MAIL_PORT=controller.port)
    boom = queue("boom@example.org")
    build = outbox.build_message

    def crash(mail):
        raise KeyboardInterrupt

    monkeypatch.setattr(outbox, "build_message", crash)
    t0 = extensions.utcnow()
    with pytest.raises(KeyboardInterrupt):
        send_outbox(now=t0)
    db.session.rollback()
    monkeypatch.setattr(outbox, "build_message", build)
    assert send_outbox(now=t0 + outbox.CLAIM - timedelta(seconds=1)) == (0, 0)
    assert send_outbox(now=t0 + outbox.CLAIM + timedelta(seconds=1)) == (1, 0)
    db.session.refresh(boom)
    assert boom.sent_at is not None and inbox.offered == {"boom@example.org": 1}


# Mail that waits: the server down, then back ------------------------------------------------------

def _all_mail(db) -> list[OutboxEmail]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxEmail).order_by(OutboxEmail.id)))


def test_mail_waits_while_the_server_is_down_and_all_of_it_goes_out_once_it_is_back(app, db, cast):
    """The whole story on a real SMTP server: up, down (stopped) for a while as more mail is queued,
    then up again on the same port. Each run tries at most one mail while it is down, the waits double,
    nothing is set aside, and once it is back every mail arrives exactly once."""
    inbox = Inbox()
    port = _free_port()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    t0 = extensions.utcnow()
    queue("before@example.org")
    assert send_outbox(now=t0) == (1, 0)
    server.stop()  # the mail server goes down

    make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])  # queues real mail
    for n in range(3):
        queue(f"early{n}@example.org")
    expected = {m.to_address for m in _all_mail(db) if m.sent_at is None}
    assert send_outbox(now=t0 + timedelta(minutes=1)) == (0, 1)
    waits = []
    clock = t0 + timedelta(minutes=1)
    for _ in range(4):
        mails = _all_mail(db)
        waiting = [m for m in mails if m.sent_at is None]
        assert all(m.set_aside_at is None for m in mails)
        due = min(m.next_attempt_at for m in waiting)
        assert send_outbox(now=due - timedelta(seconds=1)) == (0, 0)  # nobody knocks before the wait is over
        waits.append(due - clock)
        clock = due
        assert send_outbox(now=clock) == (0, 1)  # one mail tried, the run stops
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8)]

    late = queue("late@example.org")  # queued during the outage: tried on the next run, then waits too
    expected.add(late.to_address)
    assert send_outbox(now=clock) == (0, 1)
    late = db.session.get(OutboxEmail, late.id)
    assert late.attempts == 1 and late.next_attempt_at == clock + timedelta(minutes=1)
    assert inbox.offered == {"before@example.org": 1}

    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()  # the server is back
    try:
        assert send_outbox(now=clock + timedelta(seconds=30)) == (0, 0)  # the queue is still waiting
        sent, failed = send_outbox(now=clock + timedelta(minutes=16))
        assert (sent, failed) == (len(expected), 0)
        assert send_outbox(now=clock + timedelta(days=1)) == (0, 0)
    finally:
        server.stop()
    mails = _all_mail(db)
    assert all(m.sent_at is not None and m.set_aside_at is None and m.next_attempt_at is None for m in mails)
    delivered = Counter(r for rcpt, _ in inbox.messages for r in rcpt)
    assert delivered == Counter(expected | {"before@example.org"})  # each exactly once
    assert set(inbox.offered.values()) == {1}
    # the head of the queue counted the five tries of the outage, the late mail its one, the others none
    head, *others = [m for m in mails if m.to_address != "before@example.org"]
    assert head.attempts == 5 and "unavailable" in head.last_error
    assert {m.id: m.attempts for m in others} == {m.id: 1 if m.id == late.id else 0 for m in others}


def test_a_run_started_while_another_sends_sends_nothing_twice(app, db, smtp, monkeypatch):
    """Each mail is claimed before it is sent: a second run that starts while the first is sending its first
    mail takes the others, and the first run then skips them."""
    controller, inbox = smtp
    app.config.update(MAIL_SERVER=controller.hostname, MAIL_PORT=controller.port)
    mails = [queue(f"reader{n}@example.org") for n in range(4)]
    build = outbox.build_message
    second: list = []

    def build_and_start_another_run(mail):
        if not second:
            second.append(None)
            second[0] = send_outbox()
        return build(mail)

    monkeypatch.setattr(outbox, "build_message", build_and_start_another_run)
    first = send_outbox()
    assert second == [(3, 0)] and first == (1, 0)
    assert inbox.offered == {m.to_address: 1 for m in mails}


# The admins' page -----------------------------------------------------------------------------------

def _set_aside_by_a_run(app, smtp) -> None:
    controller, _ = smtp
    app.config.update(MAIL_SERVER=controller.hostname, MAIL_PORT=controller.port)
    queue("nobody@refused.example", subject="[reviewflow] Re-review due for “Sun safety”")
    queue("two@example.org, three@example.org")
    send_outbox()


def test_admins_see_set_aside_mail_with_the_reason(app, db, cast, smtp, login):
    _set_aside_by_a_run(app, smtp)
    queue("waiting@example.org")
    queue("waiting2@example.org")
    client = login(cast["admin"])
    response = client.get("/admin/mail")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "nobody@refused.example" in html and "Re-review due for “Sun safety”" in html
    assert "550 5.1.1 No such mailbox here" in html
    assert "two@example.org, three@example.org" in html and "not one e-mail address" in html
    assert "2 waiting to be sent" in html
    assert 'href="/admin/mail"' in client.get("/admin/users").get_data(as_text=True)


def test_set_aside_mail_is_paged_newest_first(app, db, cast, smtp, login):
    _set_aside_by_a_run(app, smtp)
    queue("third@refused.example")
    send_outbox()
    app.config["PER_PAGE"] = 2
    client = login(cast["admin"])
    html = client.get("/admin/mail").get_data(as_text=True)
    assert "third@refused.example" in html and "nobody@refused.example" not in html
    next_url = html.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    html = client.get(next_url).get_data(as_text=True)
    assert "nobody@refused.example" in html and "third@refused.example" not in html


@pytest.mark.parametrize("who", ["writer", "editor", "rev"])
def test_only_admins_see_the_mail_page(app, db, cast, smtp, login, who):
    _set_aside_by_a_run(app, smtp)
    client = login(cast[who])
    response = client.get("/admin/mail")
    assert response.status_code == 403
    assert "nobody@refused.example" not in response.get_data(as_text=True)
    assert 'href="/admin/mail"' not in client.get("/dashboard").get_data(as_text=True)


def test_anonymous_visitors_are_sent_to_log_in(client, db):
    response = client.get("/admin/mail")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def _links(html: str, rel: str) -> list[str]:
    """Every ``rel`` link's address on the page, in page order."""
    return [part.rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&") for part in html.split(f'rel="{rel}"')[:-1]]


def test_admins_see_the_queue_with_attempts_last_error_and_next_attempt(app, db, cast, login):
    head = queue("head@example.org", subject="[reviewflow] You were asked to review “Sun safety”")
    queue("behind@example.org")
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=_free_port())
    assert send_outbox() == (0, 1)
    queue("new@example.org")
    db.session.refresh(head)
    html = login(cast["admin"]).get("/admin/mail").get_data(as_text=True)
    waiting = html.split("<h2>Waiting</h2>")[1].split("<h2>Set aside</h2>")[0]
    assert "3 waiting to be sent" in html
    rows = waiting.split("<tr>")[2:]
    assert [r.split("<td>")[1].split("</td>")[0] for r in rows] == ["head@example.org", "behind@example.org",
                                                                      "new@example.org"]
    assert "You were asked to review “Sun safety”" in rows[0] and "unavailable" in rows[0]
    assert "<td>1</td>" in rows[0] and "<td>0</td>" in rows[1] and "<td>0</td>" in rows[2]
    when = head.next_attempt_at.isoformat(timespec="seconds")
    assert f'datetime="{when}' in rows[0] and f'datetime="{when}' in rows[1]  # the whole queue waits
    assert "Next run" in rows[2] and "Next run" not in rows[0]
    assert "No mail set aside" in html


def test_the_queue_and_the_set_aside_list_page_on_their_own(app, db, cast, smtp, login):
    controller, _ = smtp
    app.config.update(MAIL_SERVER=controller.hostname, MAIL_PORT=controller.port)
    for n in range(3):
        queue(f"aside{n}@refused.example")
    send_outbox()
    for n in range(3):
        queue(f"wait{n}@later.example")
    send_outbox()  # refused for now: they wait
    app.config["PER_PAGE"] = 2
    client = login(cast["admin"])
    html = client.get("/admin/mail").get_data(as_text=True)
    assert "wait0@" in html and "wait1@" in html and "wait2@" not in html  # oldest first
    assert "aside2@" in html and "aside1@" in html and "aside0@" not in html  # newest first
    queue_next, aside_next = _links(html, "next")
    assert "queue_after=" in queue_next and "before=" not in queue_next
    assert "before=" in aside_next and "queue_after" not in aside_next

    html = client.get(queue_next).get_data(as_text=True)
    assert "wait2@" in html and "wait0@" not in html
    assert "aside2@" in html and "aside0@" not in html  # the other list stays where it was
    [aside_next] = _links(html, "next")
    assert "queue_after=" in aside_next  # and its link keeps the queue's page
    html = client.get(aside_next).get_data(as_text=True)
    assert "wait2@" in html and "wait0@" not in html and "aside0@" in html and "aside2@" not in html
    [queue_prev, _] = _links(html, "prev")
    html = client.get(queue_prev).get_data(as_text=True)
    assert "wait0@" in html and "wait2@" not in html and "aside0@" in html


@pytest.mark.real_commits  # the plans are read on a raw connection that ends with a rollback
@pytest.mark.parametrize("path", ["/admin/mail", "/admin/mail?queue_after=w1&before=m100000",
                                  "/admin/mail?queue_before=w100000&after=m1"])
def test_the_mail_page_reads_the_queue_through_an_index(app, db, cast, login, path):
    """The queue's count and pages walk the (sent_at, id) index, however much mail was ever sent
    (``tests/test_query_plans``). The set-aside list is left out: with no index on ``set_aside_at``
    its count reads the whole outbox, which needs a migration."""
    from tests.test_query_plans import full_scans_of

    for n in range(3):
        queue(f"person{n}@example.org")
    client = login(cast["admin"])
    status, bad = full_scans_of(client, path)
    assert status == 200, status
    assert [scan for scan in bad if "WHERE outbox_emails.set_aside" not in scan[0]] == []
