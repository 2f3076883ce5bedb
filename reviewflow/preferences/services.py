"""Changing one's preferences: validated here, audited in the same transaction."""
from __future__ import annotations

from zoneinfo import available_timezones

from reviewflow import policy
from reviewflow.audit import services as audit
from reviewflow.audit.actions import AuditAction
from reviewflow.errors import InvalidInput

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
