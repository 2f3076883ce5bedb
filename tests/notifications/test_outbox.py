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

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from reviewflow import extensions
from reviewflow.notifications import services
from reviewflow.notifications.models import Notification, OutboxEmail
from reviewflow.notifications.services import SUBJECT_MAX, notify, one_line, send_outbox
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
    controller, inbox = smtp
    make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    note = db.session.scalar(select(Notification).where(Notification.user_id == cast["rev"].id))
    assert note is not None and "review" in note.text
    app.config.update(MAIL_SERVER=controller.hostname, MAIL_PORT=controller.port)
    queued = db.session.scalar(select(func.count()).select_from(OutboxEmail).where(OutboxEmail.sent_at.is_(None)))
    sent, failed = send_outbox()
    assert (sent, failed) == (queued, 0) and sent >= 1
    assert any(cast["rev"].email in rcpt for rcpt, _ in inbox.messages)
    assert any("Eczema in winter" in body for _, body in inbox.messages)
    assert db.session.scalar(select(func.count()).select_from(OutboxEmail).where(OutboxEmail.sent_at.is_(None))) == 0


def test_request_changes_notifies_writer(db, cast):
    make_article(cast["writer"], "changes_requested", reviewer=cast["rev"], editor=cast["editor"])
    texts = db.session.scalars(select(Notification.text).where(Notification.user_id == cast["writer"].id)).all()
    assert any("requested changes" in t for t in texts)


def test_unreachable_server_keeps_mail_queued(app, db, cast):
    make_article(cast["writer"], "submitted")
    make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], title="Second")
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=_free_port())
    sent, failed = send_outbox()
    assert sent == 0 and failed >= 1
    mail = db.session.scalar(select(OutboxEmail).where(OutboxEmail.attempts > 0))
    assert mail.sent_at is None and mail.last_error


def test_unreachable_server_sets_nothing_aside_and_stops_the_run(app, db):
    """An outage is no fault of any mail: three runs later every mail is still queued, and each run
    stopped at the first mail instead of waiting out a timeout per mail."""
    mails = [queue(f"person{n}@example.org") for n in range(3)]
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=_free_port())
    for _ in range(3):
        assert send_outbox() == (0, 1)
    first, *rest = (db.session.get(OutboxEmail, m.id) for m in mails)
    assert first.attempts == 3 and "unavailable" in first.last_error and first.set_aside_at is None
    assert all(m.attempts == 0 and m.set_aside_at is None for m in rest)


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


def test_a_title_with_a_line_break_queues_a_one_line_subject(db, cast):
    notify(cast["rev"], "You were asked to review “Eczema\r\nBcc: attacker@example.org”" + " long" * 60)
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

    assert send_outbox() == (2, 3)
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

    assert send_outbox() == (0, 1)  # only the deferred mail is tried again
    db.session.refresh(later)
    assert later.set_aside_at is None and later.attempts == 2
    assert send_outbox() == (0, 1)
    db.session.refresh(later)
    assert later.set_aside_at is not None and later.attempts == 3 and "451" in later.last_error

    assert send_outbox() == (0, 0)  # set-aside mail is never retried on its own
    assert inbox.offered == {"first@example.org": 1, "last@example.org": 1, "nobody@refused.example": 1,
                             "busy@later.example": 3}


def test_a_mail_set_aside_commits_before_the_next_one(app, db, smtp, monkeypatch):
    """Each outcome is committed on its own: a crash later in the run keeps what was learnt."""
    controller, _ = smtp
    app.config.update(MAIL_SERVER=controller.hostname, MAIL_PORT=controller.port)
    refused = queue("nobody@refused.example")
    queue("boom@example.org")
    build = services.build_message

    def crash_on_boom(mail):
        if mail.to_address.startswith("boom"):
            raise KeyboardInterrupt
        return build(mail)

    monkeypatch.setattr(services, "build_message", crash_on_boom)
    with pytest.raises(KeyboardInterrupt):
        send_outbox()
    db.session.rollback()
    db.session.refresh(refused)
    assert refused.set_aside_at is not None


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
