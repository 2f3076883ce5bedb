"""Telling people about work: an in-app notification, and an e-mail as the person chose.

``notify`` adds a notification to the person's list and, by their choice (``EmailMode`` on their
preferences page): queues an e-mail at once (``immediately``), leaves the notification waiting
for their digest (``hourly``, the default, or ``daily``; ``flask send-digests``, see
``digests.py``), or sends nothing (``off``). Callers name the article the event is about and
the words behind it (a comment), so the list and the digests group by article and quote them.

Which mail never waits, and why (checked caller by caller):

- Everything sent with ``queue_email`` goes into the outbox at once, whatever the person chose:
  the password reset link (``auth/resets.py``) and the invitation (``auth/invitations.py``) are
  links someone is waiting for, and they expire; "your password was changed"
  (``auth/services.py``) is a security alert that must reach the person while they can still act,
  so no preference delays or silences it. Two-factor sign-in sends no mail (codes come from the
  person's app or recovery codes). These mails are not notifications and never enter a digest.
- Everything sent with ``notify``/``notify_role`` is work news (assignments, submissions,
  annotations, replies, decisions, publications, source problems, re-review reminders): it
  follows the person's choice.

The outbox is sent by ``flask --app reviewflow send-mail`` (``outbox.py``).
"""
from __future__ import annotations

import logging
import re
import unicodedata

from sqlalchemy import func, select, update

from reviewflow import public_url
from reviewflow.auth.models import User, UserRole
from reviewflow.extensions import db, utcnow
from reviewflow.notifications.models import (
    DEFAULT_EMAIL_MODE,
    EmailMode,
    MailState,
    Notification,
    NotificationSettings,
    OutboxEmail,
)
from reviewflow.textrules import counted

#: A child of the app's logger ("reviewflow"): its handlers apply.
log = logging.getLogger(__name__)
SUBJECT_PREFIX = "[reviewflow] "
#: The longest subject, in characters, prefix included (the column holds 300).
SUBJECT_MAX = 150
#: The longest ``detail`` kept with a notification: a comment longer than this is cut with "…"
#: (the whole comment stays on the article's page, which the notification links to).
DETAIL_MAX = 500
#: What happened, as the counts of a group say it: kind -> (one, many). "" is anything else.
KINDS: dict[str, tuple[str, str]] = {
    "assignment": ("review request", "review requests"),
    "submission": ("submission", "submissions"),
    "annotation": ("annotation", "annotations"),
    "reply": ("reply", "replies"),
    "changes_requested": ("request for changes", "requests for changes"),
    "approval": ("approval", "approvals"),
    "publication": ("publication", "publications"),
    "source": ("source problem", "source problems"),
    "rereview": ("re-review reminder", "re-review reminders"),
    "reminder": ("reminder", "reminders"),
    "": ("update", "updates"),
}
#: Characters that end or break a header line: C0/C1 controls (CR, LF, tab, NUL…), DEL and
#: the Unicode line and paragraph separators.
_BREAKS = {"Cc", "Zl", "Zp"}
_SPACES = re.compile(r"\s+")


def one_line(text: str, limit: int = SUBJECT_MAX) -> str:
    """``text`` as one header-safe line of at most ``limit`` characters: every control character,
    line break and run of white space becomes one space, and a longer text is cut with "…"."""
    flat = "".join(" " if unicodedata.category(ch) in _BREAKS else ch for ch in str(text))
    flat = _SPACES.sub(" ", flat).strip()
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


def cut(text: str, limit: int = DETAIL_MAX) -> str:
    """``text`` stripped, at most ``limit`` characters, a longer one cut at a word with "…"."""
    text = (text or "").strip()
    if len(text) <= limit:
        return text
    head = text[:limit - 1]
    space = head.rfind(" ")
    return (head[:space] if space > limit // 2 else head).rstrip() + "…"


def summarise(kinds: dict[str, int]) -> str:
    """Counts by kind in words, most first: "2 annotations, 1 reply"."""
    order = sorted(kinds.items(), key=lambda kv: (-kv[1], list(KINDS).index(kv[0]) if kv[0] in KINDS else 99))
    return ", ".join(counted(n, *KINDS.get(kind, KINDS[""])) for kind, n in order if n)


def email_mode(user) -> EmailMode:
    """How ``user`` chose to get notifications by e-mail; the hourly digest until they choose."""
    chosen = db.session.scalar(select(NotificationSettings.email_mode)
                               .where(NotificationSettings.user_id == user.id))
    return EmailMode(chosen) if chosen else DEFAULT_EMAIL_MODE


def notify(user, text: str, url: str = "", *, article=None, kind: str = "", detail: str = "") -> Notification:
    """Notify ``user`` in the caller's transaction: a notification in their list, and an e-mail as
    they chose (``email_mode``): queued now, left for their digest, or none.

    ``url`` is a path in the app; e-mails carry it on the public site's address (``public_url``:
    ``PUBLIC_URL``, never the Host header when it is set). ``article`` (an article, or its id)
    groups the notification with the others about it; ``kind`` (a key of ``KINDS``) is what
    happened, for the group's counts; ``detail`` is the comment behind it, kept cut to
    ``DETAIL_MAX`` characters and quoted in the list and the e-mails.
    """
    article_id = getattr(article, "id", article)
    note = Notification(user_id=user.id, text=text[:500], url=url, article_id=article_id,
                        article_title=str(getattr(article, "title", "") or "")[:200],
                        kind=kind if kind in KINDS else "", detail=cut(detail), mail=MailState.PENDING.value)
    mode = email_mode(user)
    if mode == EmailMode.OFF:
        note.mail = MailState.NONE.value
    elif mode == EmailMode.IMMEDIATELY:
        mail = OutboxEmail(to_address=user.email, subject=one_line(SUBJECT_PREFIX + text),
                           body=_single_body(note))
        db.session.add(mail)
        db.session.flush()
        note.mail, note.digest_id = MailState.QUEUED.value, mail.id
    db.session.add(note)
    return note


def _single_body(note: Notification) -> str:
    """The e-mail of one notification, for people who want each as it happens."""
    parts = [note.text]
    if note.detail:
        parts.append(quote_block(note.detail))
    if note.url:
        parts.append(f"Open it in reviewflow: {public_url.absolute(note.url)}")
    parts.append(preferences_line(EmailMode.IMMEDIATELY))
    return "\n\n".join(parts) + "\n"


def quote_block(text: str, indent: str = "") -> str:
    """A comment quoted in a plain-text e-mail: each line after "> "."""
    return "\n".join(f"{indent}> {line}".rstrip() for line in text.splitlines() or [""])


def preferences_line(mode: EmailMode) -> str:
    """The e-mail's last words: how it came to be sent, and where to change that."""
    how = {EmailMode.IMMEDIATELY: "You get an e-mail for each notification.",
           EmailMode.HOURLY: "You get at most one digest an hour.",
           EmailMode.DAILY: "You get one digest a day."}.get(mode, "")
    return f"{how} Change how reviewflow e-mails you: {public_url.absolute('/account/preferences')}".strip()


def queue_email(to: str, subject: str, body: str) -> None:
    """Queue one e-mail to an address (a person without an account too, such as an invitee) in the caller's
    transaction; ``send-mail`` sends it. Never waits for a digest and ignores every preference: only
    for mail that must go now (see the module's docstring)."""
    db.session.add(OutboxEmail(to_address=to, subject=one_line(SUBJECT_PREFIX + subject), body=body))


def notify_role(role: str, text: str, url: str = "", exclude=None, **about) -> None:
    """Notify every active person holding ``role`` (for example every editor), but ``exclude``;
    ``about`` (``article``, ``kind``, ``detail``) as for ``notify``."""
    people = db.session.scalars(select(User).join(UserRole).where(UserRole.role == role, User.active.is_(True)))
    for person in people:
        if exclude is None or person.id != exclude.id:
            notify(person, text, url, **about)


def unread_count(user) -> int:
    """How many of the person's notifications are unread (the dashboard's "Unread notifications")."""
    return db.session.scalar(
        select(func.count()).select_from(Notification).where(
            Notification.user_id == user.id, Notification.read_at.is_(None)
        )
    ) or 0


def recent(user, limit: int = 20) -> list[Notification]:
    """The person's newest notifications, one by one (the dashboard's panel)."""
    return list(db.session.scalars(
        select(Notification).where(Notification.user_id == user.id).order_by(Notification.id.desc()).limit(limit)
    ))


def mark_all_read(user) -> int:
    """Mark every unread notification of ``user`` read; returns how many were. Never commits."""
    return db.session.execute(
        update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow()).execution_options(synchronize_session=False)
    ).rowcount


#: One plain address, as accounts store them: no display name, list, comment or white space.
