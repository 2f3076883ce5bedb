"""Notifications: in the app and by e-mail through the outbox, sent over real SMTP."""
from __future__ import annotations

import socket

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from reviewflow.notifications.models import Notification, OutboxEmail
from reviewflow.notifications.services import send_outbox
from tests.factories import make_article


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

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
