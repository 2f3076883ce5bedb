"""Changing one's preferences: validated here, audited in the same transaction."""
from __future__ import annotations

from zoneinfo import available_timezones

from reviewflow import policy
from reviewflow.audit import services as audit
from reviewflow.audit.actions import AuditAction
from reviewflow.errors import InvalidInput
from reviewflow.extensions import db
from reviewflow.notifications.models import EmailMode, NotificationSettings
from reviewflow.notifications.services import email_mode

#: Every IANA zone this machine knows (the tzdata of Python or the system), sorted for the picker.
ZONES: tuple[str, ...] = tuple(sorted(z for z in available_timezones() if "/" in z or z == "UTC"))


def set_time_zone(user, name: str) -> bool:
    """Set ``user``'s time zone to the IANA zone ``name``; False when it was already that. Never commits."""
    name = (name or "").strip()
    if name not in ZONES:
        raise InvalidInput("Choose a time zone from the list, such as Europe/Berlin or America/New_York.",
                           field="time_zone")
    if user.time_zone == name:
        return False
    before, user.time_zone = user.time_zone, name
    audit.record(AuditAction.ACCOUNT_PREFERENCES_CHANGED, actor=user, role=policy.acting_role(user), target=user,
                 target_label=user.email,
                 details={"time_zone": {"from": before, "to": name}})
    return True


def set_email_mode(user, value: str) -> bool:
    """Set how ``user`` gets notifications by e-mail (an ``EmailMode`` value); False when it already was.
    Notifications already waiting for a digest follow the new choice at the next ``send-digests``.
    InvalidInput (400) for anything but the four choices. Never commits."""
    try:
        mode = EmailMode((value or "").strip())
    except ValueError:
        raise InvalidInput("Choose how you get notifications by e-mail: immediately, an hourly digest, a daily "
                           "digest or off.", field="email_mode") from None
    before = email_mode(user)
    if before == mode:
        return False
    settings = db.session.get(NotificationSettings, user.id)
    if settings is None:
        settings = NotificationSettings(user_id=user.id)
        db.session.add(settings)
    settings.email_mode = mode.value
    audit.record(AuditAction.ACCOUNT_EMAIL_PREFERENCE_CHANGED, actor=user, role=policy.acting_role(user),
                 target=user, target_label=user.email, details={"email": {"from": before.value, "to": mode.value}})
    return True
