"""Reading one-time links out of queued and delivered mail, and an aiosmtpd server on a loopback port."""
from __future__ import annotations

import email
import email.policy
import re
import socket

from sqlalchemy import select

from reviewflow.extensions import db
from reviewflow.notifications.models import OutboxEmail

LINK = re.compile(r"https?://[^\s/]+(/(?:invitations|password/reset)/[A-Za-z0-9_\-]+)")


def outbox(to: str) -> list[OutboxEmail]:
    """The mail queued for ``to``, oldest first."""
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxEmail).where(OutboxEmail.to_address == to).order_by(OutboxEmail.id)))


def link_in(body: str) -> str | None:
    """The path of the one-time link in a mail's text, or None."""
    found = LINK.search(body)
    return found.group(1) if found else None


def last_link(to: str) -> str:
    path = link_in(outbox(to)[-1].body)
    assert path, outbox(to)[-1].body
    return path


class Inbox:
    """aiosmtpd handler keeping every delivered message as ``(recipients, email.message.EmailMessage)``."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def to(self, address: str) -> list:
        return [m for rcpt, m in self.messages if address in rcpt]


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
