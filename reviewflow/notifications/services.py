"""Telling people about work: an in-app notification plus an e-mail in the outbox.

E-mails are sent by ``flask --app reviewflow send-mail`` over SMTP; without a mail
server configured they are written to the log instead.
"""
from __future__ import annotations

import smtplib
from email.message import EmailMessage

from flask import current_app
from sqlalchemy import func, select, update

from reviewflow.auth.models import User, UserRole
from reviewflow.extensions import db, utcnow
from reviewflow.notifications.models import Notification, OutboxEmail


def notify(user, text: str, url: str = "") -> None:
    """Queue a notification and an e-mail for ``user`` in the caller's transaction."""
    db.session.add(Notification(user_id=user.id, text=text, url=url))
    body = f"{text}\n\nOpen it in reviewflow: {url}\n" if url else text + "\n"
    db.session.add(OutboxEmail(to_address=user.email, subject=f"[reviewflow] {text[:120]}", body=body))


def notify_role(role: str, text: str, url: str = "", exclude=None) -> None:
    """Notify every active person holding ``role`` (for example every editor)."""
    people = db.session.scalars(select(User).join(UserRole).where(UserRole.role == role, User.active.is_(True)))
    for person in people:
        if exclude is None or person.id != exclude.id:
            notify(person, text, url)


def unread_count(user) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Notification).where(
            Notification.user_id == user.id, Notification.read_at.is_(None)
        )
    ) or 0


def recent(user, limit: int = 20) -> list[Notification]:
    return list(db.session.scalars(
        select(Notification).where(Notification.user_id == user.id).order_by(Notification.id.desc()).limit(limit)
    ))


def mark_all_read(user) -> None:
    db.session.execute(
        update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )


def send_outbox(limit: int = 100) -> tuple[int, int]:
    """Send up to ``limit`` queued e-mails; returns (sent, failed). Commits after each one."""
    server = current_app.config.get("MAIL_SERVER")
    sent = failed = 0
    rows = list(db.session.scalars(
        select(OutboxEmail).where(OutboxEmail.sent_at.is_(None)).order_by(OutboxEmail.id).limit(limit)
    ))
    for mail in rows:
        msg = EmailMessage()
        msg["From"] = current_app.config["MAIL_FROM"]
        msg["To"] = mail.to_address
        msg["Subject"] = mail.subject
        msg.set_content(mail.body)
        try:
            if server:
                with smtplib.SMTP(server, current_app.config["MAIL_PORT"], timeout=10) as smtp:
                    smtp.send_message(msg)
            else:
                current_app.logger.info("mail (not sent, no REVIEWFLOW_MAIL_SERVER):\n%s", msg)
            mail.sent_at = utcnow()
            sent += 1
        except (OSError, smtplib.SMTPException) as exc:
            mail.attempts += 1
            mail.last_error = str(exc)[:500]
            failed += 1
        db.session.commit()
    return sent, failed
