"""E-mail digests: a person's waiting notifications in one e-mail, grouped by article, with the comments.

``flask --app reviewflow send-digests`` (and every ``send-mail`` run, which starts with it) queues
the digests that are due into the outbox; ``send-mail`` then sends them like any mail. A digest is due
for a person with notifications waiting (``MailState.PENDING``):

- ``hourly`` (the default): when their last digest was queued at least ``HOURLY`` ago (or never) and
  the oldest waiting notification is at least ``GATHER`` old, so a reviewer's pass of annotations
  arrives as one e-mail rather than the first alone;
- ``daily``: once a day, at ``DAILY_AT`` in the person's own time zone (``User.time_zone``), with
  what waited before then;
- ``immediately``: at once (only notifications that waited while the person had another choice);
- ``off``: never; what waited is marked never e-mailed.

Safe to run from cron as often as liked, and two runs at once: each digest is one transaction that
first claims the person (a conditional UPDATE of ``NotificationSettings.last_digest_at`` that only
succeeds while the digest is due, so the second run's finds it no longer is) and then claims each
notification it carries (``pending`` -> ``queued`` only if still ``pending``; any shortfall rolls the
digest back). Every waiting notification so goes out in exactly one digest.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from reviewflow import public_url
from reviewflow.auth.models import User
from reviewflow.extensions import db, utcnow
from reviewflow.notifications.models import (
    DEFAULT_EMAIL_MODE,
    EmailMode,
    MailState,
    Notification,
    NotificationSettings,
    OutboxEmail,
)
from reviewflow.notifications.services import SUBJECT_PREFIX, one_line, preferences_line, quote_block, summarise
from reviewflow.textrules import counted

#: At most one hourly digest per person in this long.
HOURLY = timedelta(hours=1)
#: How long the first waiting notification gathers company before an hourly digest goes.
GATHER = timedelta(minutes=10)
#: The local time of day the daily digest goes at.
DAILY_AT = time(8, 0)
#: The most notifications of one article a digest lists (the rest: "and 4 more on the article's page").
PER_ARTICLE = 20


def daily_boundary(now: datetime, zone_name: str) -> datetime:
    """The latest ``DAILY_AT`` in the zone ``zone_name`` (UTC when unknown) at or before ``now``, in UTC."""
    try:
        zone = ZoneInfo(zone_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    at = datetime.combine(local.date(), DAILY_AT, tzinfo=zone)
    if at > local:
        at = datetime.combine(local.date() - timedelta(days=1), DAILY_AT, tzinfo=zone)
    return at.astimezone(now.tzinfo)


def send_digests(now: datetime | None = None) -> int:
    """Queue every digest that is due at ``now`` (default: the clock), one committed transaction per
    person; returns how many were queued. See the module's docstring for when one is due."""
    now = now or utcnow()
    waiting = list(db.session.execute(
        select(Notification.user_id, func.min(Notification.created_at))
        .where(Notification.mail == MailState.PENDING.value).group_by(Notification.user_id)
        .order_by(Notification.user_id)))
    db.session.rollback()  # end the read: each person's digest is a transaction of its own
    queued = 0
    for user_id, oldest in waiting:
        try:
            done = _digest_for(user_id, oldest, now)
        except IntegrityError:  # another run made this person's settings row at the same moment
            db.session.rollback()
            continue
        if done is None:
            db.session.rollback()
        else:
            db.session.commit()
            queued += done
    return queued


def _settings(user_id: int) -> NotificationSettings:
    """The person's settings row, made with the defaults if they have none (flushed, not committed)."""
    row = db.session.get(NotificationSettings, user_id)
    if row is None:
        row = NotificationSettings(user_id=user_id, email_mode=DEFAULT_EMAIL_MODE.value)
        db.session.add(row)
        db.session.flush()
    return row


def _due_since(mode: EmailMode, oldest: datetime, now: datetime, user: User) -> datetime | None:
    """The claim's condition for ``mode``: a digest is due when the last one was queued at or before the
    returned time (or never); None when no digest is due at all at ``now``."""
    if mode == EmailMode.IMMEDIATELY:
        return now
    if mode == EmailMode.HOURLY:
        return now - HOURLY if oldest <= now - GATHER else None
    boundary = daily_boundary(now, user.time_zone)
    return boundary - timedelta(microseconds=1) if oldest < boundary else None


def _digest_for(user_id: int, oldest: datetime, now: datetime) -> int | None:
    """Queue ``user_id``'s digest if it is due: 1 when one was queued, 0 when what waited is marked never
    e-mailed (the person chose "off"; the caller commits both), None when nothing is due or another run
    got there first (the caller rolls back)."""
    user = db.session.get(User, user_id)
    settings = _settings(user_id)
    mode = EmailMode(settings.email_mode)
    if mode == EmailMode.OFF:
        db.session.execute(update(Notification).where(Notification.user_id == user_id,
                                                      Notification.mail == MailState.PENDING.value)
                           .values(mail=MailState.NONE.value).execution_options(synchronize_session=False))
        return 0
    since = _due_since(mode, oldest, now, user)
    if since is None:
        return None
    claimed = db.session.execute(
        update(NotificationSettings)
        .where(NotificationSettings.user_id == user_id,
               or_(NotificationSettings.last_digest_at.is_(None), NotificationSettings.last_digest_at <= since))
        .values(last_digest_at=now).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        return None  # too soon, or another run queued this person's digest meanwhile
    notes = list(db.session.scalars(select(Notification).where(
        Notification.user_id == user_id, Notification.mail == MailState.PENDING.value).order_by(Notification.id)))
    if not notes:
        return None
    mail = OutboxEmail(to_address=user.email, subject=one_line(SUBJECT_PREFIX + digest_subject(notes)),
                       body=digest_body(user, notes, mode))
    db.session.add(mail)
    db.session.flush()
    taken = db.session.execute(
        update(Notification).where(Notification.id.in_([n.id for n in notes]),
                                   Notification.mail == MailState.PENDING.value)
        .values(mail=MailState.QUEUED.value, digest_id=mail.id).execution_options(synchronize_session=False))
    return 1 if taken.rowcount == len(notes) else None  # a shortfall: another run carries some; undo this one


def _by_article(notes: list[Notification]) -> list[list[Notification]]:
    """The notifications in groups by article (one of its own for each about no article), the group
    with the newest notification first, each group oldest first."""
    groups: dict[int, list[Notification]] = defaultdict(list)
    for n in notes:
        groups[n.article_id if n.article_id is not None else -n.id].append(n)
    return sorted(groups.values(), key=lambda g: -g[-1].id)


def digest_subject(notes: list[Notification]) -> str:
    """ "3 new on “Managing eczema”: 2 annotations, 1 reply", or "5 notifications on 2 articles"."""
    groups = _by_article(notes)
    if len(groups) == 1:
        only = groups[0]
        if only[0].article_id is None:
            return only[0].text
        return f"{len(only):,} new on “{only[-1].article_title}”: {summarise(_kinds(only))}"
    articles = sum(1 for g in groups if g[0].article_id is not None)
    subject = counted(len(notes), "notification")
    return subject + (f" on {counted(articles, 'article')}" if articles == len(groups) else "")


def _kinds(group: list[Notification]) -> dict[str, int]:
    kinds: dict[str, int] = defaultdict(int)
    for n in group:
        kinds[n.kind] += 1
    return kinds


def digest_body(user: User, notes: list[Notification], mode: EmailMode) -> str:
    """The digest's text: per article its counts, each notification with its comment quoted, and the
    link to open it (on the public site's address); then how to change these e-mails."""
    lines = [f"Hello {user.name},", "",
             f"{counted(len(notes), 'notification')} since your last e-mail from reviewflow:", ""]
    for group in _by_article(notes):
        newest = group[-1]
        if newest.article_id is not None:
            lines += [f"{len(group):,} new on “{newest.article_title}”: {summarise(_kinds(group))}", ""]
        for n in group[-PER_ARTICLE:]:
            lines.append(f"  * {n.text}")
            if n.detail:
                lines.append(quote_block(n.detail, indent="    "))
        if len(group) > PER_ARTICLE:
            lines.append(f"  … and {counted(len(group) - PER_ARTICLE, 'earlier notification')} in reviewflow")
        if newest.url:
            lines.append(f"  Open it: {public_url.absolute(newest.url)}")
        lines.append("")
    lines += ["Every notification is also in your list: " + public_url.absolute("/notifications"), "",
              preferences_line(mode)]
    return "\n".join(lines) + "\n"
