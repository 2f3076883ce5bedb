"""What text reviewflow accepts: the one place that knows which characters a field may hold.

One-line fields (titles, names, credentials, notes, reasons, e-mail addresses) hold no control
character at all: a CR or LF in a title would end up in a mail header, a tab in a CSV cell.
Multi-line text (bodies, comments, bios) may hold tab, LF and CR, and no other control character.
Every service validates through here, so the pages, the API and the command line agree.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime

from reviewflow.errors import InvalidInput

#: C0 controls, DEL and C1 controls; also the Unicode line and paragraph separators, which some
#: mail and CSV readers treat as line breaks.
_ONE_LINE_BAD = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MULTI_LINE_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _label(field: str) -> str:
    return field.replace("_", " ")


def check_one_line(value: str, field: str) -> str:
    """``value`` unchanged; InvalidInput (400) naming ``field`` when it holds a control character."""
    if isinstance(value, str) and _ONE_LINE_BAD.search(value):
        raise InvalidInput(f"The {_label(field)} must be one line of text without control characters "
                           "(line breaks, tabs and the like).", field=field)
    return value


def check_multi_line(value: str, field: str) -> str:
    """``value`` unchanged; InvalidInput (400) when it holds a control character other than tab, LF or CR."""
    if isinstance(value, str) and _MULTI_LINE_BAD.search(value):
        raise InvalidInput(f"The {_label(field)} holds a control character; only tabs and line breaks are "
                           "allowed in text.", field=field)
    return value


def _checked(value, field: str, required: bool, check) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"The {_label(field)} cannot be empty.", field=field)
    check(value, field)
    return value


def _within(value: str, field: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidInput(f"The {_label(field)} is longer than {limit:,} characters.", field=field)
    return value


def one_line(value, field: str, limit: int, required: bool = True) -> str:
    """A stripped one-line text of at most ``limit`` characters (empty allowed unless ``required``)."""
    return _within(_checked(value, field, required, check_one_line).strip(), field, limit)


def multi_line(value, field: str, limit: int, required: bool = True) -> str:
    """Multi-line text of at most ``limit`` characters, kept as written (empty allowed unless ``required``)."""
    return _within(_checked(value, field, required, check_multi_line), field, limit)


def short_hash(value: str | None) -> str:
    """A hash as people compare it at a glance: its first and last four characters (``3f2a…9bc1``)."""
    return f"{value[:4]}…{value[-4:]}" if value else ""


def human_date(value) -> str:
    """The one way a date is written: "7 Dec 2026" (a datetime's date in UTC, as public pages show it)."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
    return f"{value.day} {value:%b %Y}"


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """The word that agrees with the count ``n``: ``singular`` for exactly 1 (and -1), else
    ``plural_form``, which defaults to ``singular`` + "s" (give it for "reply"/"replies", "is"/"are")."""
    if abs(n) == 1:
        return singular
    return plural_form if plural_form is not None else singular + "s"


def counted(n: int, singular: str, plural_form: str | None = None) -> str:
    """The one way a count is written in a sentence: "1 approved article", "3 replies", "0 articles",
    "1,204 notifications". ``singular`` and ``plural_form`` as for ``plural``; either may be a phrase
    ("approved article", "approved articles")."""
    return f"{n:,} {plural(n, singular, plural_form)}"
