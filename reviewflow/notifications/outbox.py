"""Sending the outbox: ``flask --app reviewflow send-mail`` hands every due e-mail to the SMTP server.

Without a mail server configured, mails are written to the log instead. A mail that waits (the server is
down, or refused it for now) is tried again after a backoff (``OutboxEmail.next_attempt_at``); a mail that
cannot be sent is set aside (``OutboxEmail.set_aside_at``) with the reason, never retried on its own. Each
mail is claimed by the run that sends it, so two runs at once never send one twice. Admins see both lists
at ``/admin/mail``.
"""
from __future__ import annotations

import logging
import re
import smtplib
from datetime import datetime, timedelta
from email.message import EmailMessage

from flask import current_app
from sqlalchemy import func, or_, select, update

from reviewflow import paging
from reviewflow.extensions import db, utcnow
from reviewflow.notifications.models import OutboxEmail
from reviewflow.notifications.services import one_line

#: A child of the app's logger ("reviewflow"): its handlers apply.
log = logging.getLogger(__name__)
#: A mail whose failed attempts reach this many with a temporary refusal (4xx) is set aside: with
#: the backoff below, after about an hour and a half of "try again later".
MAX_ATTEMPTS = 8
#: The wait after a mail's first failed attempt; it doubles with each further one (1, 2, 4, 8, 16
#: minutes) up to ``BACKOFF_CAP``.
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(minutes=30)
#: How long a run holds a mail it is about to send: another run started meanwhile leaves it
#: alone, and a run that died mid-send hands it to the next run after this long.
CLAIM = timedelta(minutes=5)


_ADDRESS = re.compile(r"[^@\s<>,;:\"()\[\]]+@[^@\s<>,;:\"()\[\]]+")


class SetAside(Exception):
    """This mail will not go out as it is: the reason is kept and the mail is set aside."""


class Deferred(Exception):
    """The mail server refused this mail for now (a 4xx reply): it may go out on a later run."""


class ServerUnavailable(Exception):
    """The mail server cannot be reached, or dropped the connection: no fault of any one mail."""


def build_message(mail: OutboxEmail) -> EmailMessage:
    """The e-mail for an outbox row, subject made one line (``one_line``) whatever is stored.

    Raises SetAside when the row cannot make a valid message, such as an address that is not
    exactly one e-mail address.
    """
    if not _ADDRESS.fullmatch(mail.to_address or ""):
        raise SetAside(f"Cannot build the message: {mail.to_address!r} is not one e-mail address.")
    msg = EmailMessage()
    try:
        msg["From"] = current_app.config["MAIL_FROM"]
        msg["To"] = mail.to_address
        msg["Subject"] = one_line(mail.subject)
        msg.set_content(mail.body)
    except (ValueError, TypeError, LookupError) as exc:
        raise SetAside(f"Cannot build the message: {exc}") from None
    return msg


class _Transport:
    """One SMTP connection for a run of ``send_outbox``, opened at the first message; or the log,
    when no ``MAIL_SERVER`` is configured."""

    def __init__(self) -> None:
        self.server = current_app.config.get("MAIL_SERVER")
        self.smtp: smtplib.SMTP | None = None

    def send(self, msg: EmailMessage) -> None:
        """Hand ``msg`` on. Raises SetAside when the server refuses this message for good (5xx),
        Deferred when it refuses it for now (4xx) and ServerUnavailable for anything else."""
        if not self.server:
            log.info("mail (not sent, no REVIEWFLOW_MAIL_SERVER):\n%s", msg)
            return
        try:
            if self.smtp is None:
                self.smtp = smtplib.SMTP(self.server, current_app.config["MAIL_PORT"], timeout=10)
            self.smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            replies = list(exc.recipients.values())
            raise _refusal(min(code for code, _ in replies) if replies else 550,
                           "; ".join(f"{code} {_text(text)}" for code, text in replies)) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise _refusal(exc.smtp_code, f"{exc.smtp_code} {_text(exc.smtp_error)}") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise SetAside(f"The mail server cannot take this message: {exc}") from None
        except (OSError, smtplib.SMTPException) as exc:  # connect, greeting, lost connection
            self.close()
            raise ServerUnavailable(f"Mail server {self.server}:{current_app.config['MAIL_PORT']} "
                                    f"unavailable: {exc}") from None

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()
            self.smtp = None


def _text(reply) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _refusal(code: int, reply: str) -> Exception:
    """The exception for the server's refusal of one message: Deferred for 4xx, SetAside otherwise."""
    if 400 <= code < 500:
        return Deferred(f"The mail server refused it for now: {reply}")
    return SetAside(f"The mail server refused it: {reply}")


def backoff(attempts: int) -> timedelta:
    """How long a mail waits after its ``attempts``-th failed attempt: 1, 2, 4, 8, 16, then 30 minutes."""
    return min(BACKOFF_BASE * 2 ** min(max(attempts - 1, 0), 16), BACKOFF_CAP)


def _waiting():
    """WHERE: the mail is neither sent nor set aside."""
    return OutboxEmail.sent_at.is_(None), OutboxEmail.set_aside_at.is_(None)


def _due(now: datetime):
    """WHERE: the mail waits and its backoff (or another run's claim) has run out by ``now``."""
    return (*_waiting(), or_(OutboxEmail.next_attempt_at.is_(None), OutboxEmail.next_attempt_at <= now))


def send_outbox(limit: int = 100, now: datetime | None = None) -> tuple[int, int]:
    """Send up to ``limit`` e-mails that are due at ``now`` (default: the clock), oldest first;
    returns ``(sent, failed)``.

    Due: neither sent nor set aside, and ``next_attempt_at`` empty or past. Each mail is claimed
    first (``next_attempt_at`` moved ``CLAIM`` ahead, committed, only if it is still due), so two
    runs at once never send the same mail. Each mail's outcome is committed on its own, and one
    mail's failure never stops the others:

    - a mail that cannot be built (``build_message``) or that the server refuses for good (a 5xx
      reply, or an extension it lacks) is set aside at once: ``set_aside_at``, ``attempts`` + 1
      and ``last_error`` with the reason;
    - a temporary refusal of the mail (a 4xx reply) counts an attempt, keeps the reason and keeps
      the mail queued until ``now`` + ``backoff(attempts)``, unless that makes ``MAX_ATTEMPTS``
      (eight) failed attempts: then it is set aside, so a mail the server keeps deferring does not
      come back forever;
    - a server that cannot be reached, or that drops the connection, is no fault of any mail: the
      mail being sent counts an attempt and keeps the reason but is never set aside for it, the
      whole queue waits until ``now`` + ``backoff(its attempts)`` (a mail already waiting longer
      keeps its time), and the run stops there: the rest would fail the same way, each after a
      timeout. While the server stays down, each later run tries one mail and the wait doubles
      (1, 2, 4… minutes, at most 30); once it is back, the queue goes out on the next run after
      the wait.

    A run that dies between sending a mail and recording it (a crash, a lost database) leaves the
    mail claimed: the next run after ``CLAIM`` sends it again. That is the only way a mail can go
    out twice; none is ever lost. Set-aside mails are not retried automatically; admins see them,
    and the queue, at ``/admin/mail``.
    """
    now = now or utcnow()
    sent = failed = 0
    ids = list(db.session.scalars(select(OutboxEmail.id).where(*_due(now)).order_by(OutboxEmail.id).limit(limit)))
    transport = _Transport()
    try:
        for mail_id in ids:
            mail = _claim(mail_id, now)
            if mail is None:
                continue
            try:
                transport.send(build_message(mail))
            except SetAside as exc:
                failed += 1
                _failed(mail, str(exc), set_aside=True)
            except Deferred as exc:
                failed += 1
                _failed(mail, str(exc), set_aside=mail.attempts + 1 >= MAX_ATTEMPTS, now=now)
            except ServerUnavailable as exc:
                failed += 1
                _failed(mail, str(exc), set_aside=False, now=now)
                _hold_queue(mail.next_attempt_at)
                db.session.commit()
                break
            else:
                mail.sent_at = utcnow()
                mail.next_attempt_at = None
                sent += 1
            db.session.commit()
    finally:
        transport.close()
    return sent, failed


def _claim(mail_id: int, now: datetime) -> OutboxEmail | None:
    """The mail, claimed for this run (committed); None when it is no longer due (another run took it).

    The claim runs ``CLAIM`` from the clock, or from ``now`` when that is later: a long run's claims
    do not start out already run out.
    """
    until = max(now, utcnow()) + CLAIM
    claimed = db.session.execute(update(OutboxEmail).where(OutboxEmail.id == mail_id, *_due(now))
                                 .values(next_attempt_at=until).execution_options(synchronize_session=False))
    db.session.commit()
    return db.session.get(OutboxEmail, mail_id) if claimed.rowcount == 1 else None


def _hold_queue(until: datetime) -> None:
    """Every waiting mail due before ``until`` waits until then: the server is down for all of them."""
    db.session.execute(update(OutboxEmail).where(*_waiting(), or_(OutboxEmail.next_attempt_at.is_(None),
                                                                 OutboxEmail.next_attempt_at < until))
                       .values(next_attempt_at=until).execution_options(synchronize_session=False))


def _failed(mail: OutboxEmail, reason: str, set_aside: bool, now: datetime | None = None) -> None:
    """Count a failed attempt: set the mail aside, or keep it queued until its backoff has passed."""
    mail.attempts += 1
    mail.last_error = reason[:500]
    if set_aside:
        mail.set_aside_at = utcnow()
        mail.next_attempt_at = None
    else:
        mail.next_attempt_at = (now or utcnow()) + backoff(mail.attempts)
    log.warning("mail %s to %s %s: %s", mail.id, mail.to_address,
                "set aside" if set_aside else f"not sent, next attempt {mail.next_attempt_at:%Y-%m-%d %H:%M} UTC",
                mail.last_error)


# For admins -------------------------------------------------------------------------------------

def _id_key(mail: OutboxEmail) -> tuple[int]:
    return (mail.id,)


#: Cursors of the set-aside list: ``m<id>``.
SET_ASIDE_KEYSET = paging.Keyset("m", (paging.MAX_ID,), _id_key)
#: Cursors of the queue: ``w<id>``. It runs oldest first, as ``send-mail`` takes it, so its next page
#: is ``?queue_after=`` (names of its own: both lists are on one page).
QUEUE_KEYSET = paging.Keyset("w", (paging.MAX_ID,), _id_key, next="queue_after", prev="queue_before")


def queue_page(cursor: paging.Cursor | None = None, per_page: int = 25) -> paging.KeysetPage:
    """Mails waiting for ``send-mail`` (neither sent nor set aside), oldest first, keyset-paginated on
    id from ``cursor``; ``total`` is how many wait. Each shows its failed attempts, the last
    reason and ``next_attempt_at`` (None: at the next run)."""
    total = db.session.scalar(select(func.count()).select_from(OutboxEmail).where(*_waiting())) or 0

    def run(at: paging.Cursor | None) -> list[OutboxEmail]:
        stmt = select(OutboxEmail).where(*_waiting())
        if at is None:
            stmt = stmt.order_by(OutboxEmail.id)
        elif at.backward:
            stmt = stmt.where(OutboxEmail.id < at.key[0]).order_by(OutboxEmail.id.desc())
        else:
            stmt = stmt.where(OutboxEmail.id > at.key[0]).order_by(OutboxEmail.id)
        return list(db.session.scalars(stmt.limit(per_page + 1)))

    return paging.KeysetPage(*paging.fetch(run, cursor, per_page), total, "waiting mail")


def set_aside_page(cursor: paging.Cursor | None = None, per_page: int = 25) -> paging.KeysetPage:
    """Mails ``send-mail`` set aside, newest first, keyset-paginated on id from ``cursor``."""
    aside = OutboxEmail.set_aside_at.is_not(None)
    total = db.session.scalar(select(func.count()).select_from(OutboxEmail).where(aside)) or 0

    def run(at: paging.Cursor | None) -> list[OutboxEmail]:
        stmt = paging.descending(select(OutboxEmail).where(aside), (OutboxEmail.id,), at,
                                 at.key if at else None, per_page + 1)
        return list(db.session.scalars(stmt))

    return paging.KeysetPage(*paging.fetch(run, cursor, per_page), total, "mail")
