"""What every template can use: the policy's ``can``, state enums, time formatting, the public
site's name, settings and absolute addresses (``public_url``), and fingerprinted static files.

Static files: ``url_for('static', filename=…)`` adds ``?v=<hash of the file's bytes>``. A request
whose ``v`` is the file's current hash is answered ``public, max-age=31536000, immutable``: the
address changes whenever the file does, so browsers and CDNs may keep it for a year. Any other
static request (no ``v``, or an old one) keeps Flask's revalidation (``no-cache`` with an ETag).
"""
from __future__ import annotations

import hashlib
import os
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, request
from flask_login import current_user

from reviewflow import policy, public_url
from reviewflow.articles.models import ArticleState
from reviewflow.articles.workflow import available_transitions
from reviewflow.reviews.models import AssignmentStatus
from reviewflow.site import services as site
from reviewflow.textrules import counted, human_date, plural, short_hash

#: What a fingerprinted static file may be kept for (RFC 8246 ``immutable``).
IMMUTABLE = "public, max-age=31536000, immutable"


def zone_of(user) -> ZoneInfo:
    """The time zone a person's pages show times in (``User.time_zone``); UTC for readers and strangers."""
    name = getattr(user, "time_zone", None) if getattr(user, "is_authenticated", False) else None
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def when(value: datetime | None, zone: ZoneInfo | None = None, seconds: bool = False) -> str:
    """The one way a moment is written: "7 Dec 2026, 09:35 CET", in ``zone`` (the viewer's by default)."""
    if value is None:
        return "—"
    local = value.astimezone(zone or zone_of(current_user))
    clock = f"{local:%H:%M:%S}" if seconds else f"{local:%H:%M}"
    return f"{local.day} {local:%b %Y}, {clock} {local.tzname()}"


def relative_due(value: date | None) -> str:
    if value is None:
        return "no due date"
    days = (value - datetime.now(UTC).date()).days
    if days == 0:
        return "due today"
    if days < 0:
        return f"{counted(-days, 'day')} overdue"
    return f"in {counted(days, 'day')}"


class Fingerprints:
    """Content hashes of the app's static files, each computed once per (path, mtime, size)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.known: dict[str, tuple[tuple, str]] = {}

    def of(self, filename: str) -> str | None:
        """The first 12 hex digits of the file's SHA-256, or None when there is no such file."""
        path = os.path.realpath(os.path.join(self.folder, filename))
        if not path.startswith(os.path.realpath(self.folder) + os.sep):
            return None
        try:
            stat = os.stat(path)
        except OSError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        hit = self.known.get(filename)
        if hit and hit[0] == stamp:
            return hit[1]
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:12]
        self.known[filename] = (stamp, digest)
        return digest


def register_static_fingerprints(app: Flask) -> None:
    """``?v=<hash>`` on every static URL the app builds, and a year's caching for such requests."""
    fingerprints = Fingerprints(app.static_folder)

    @app.url_defaults
    def _fingerprint(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "filename" in values and "v" not in values:
            digest = fingerprints.of(values["filename"])
            if digest:
                values["v"] = digest

    @app.after_request
    def _cache_fingerprinted(response):
        if request.endpoint == "static" and response.status_code in (200, 304):
            filename = (request.view_args or {}).get("filename", "")
            given = request.args.get("v")
            if given and given == fingerprints.of(filename):
                response.headers["Cache-Control"] = IMMUTABLE
                response.expires = None
        return response


def register(app: Flask) -> None:
    @app.context_processor
    def _globals() -> dict:
        return {
            "can": lambda action, obj=None: policy.can(current_user, action, obj),
            "transitions_for": lambda article: available_transitions(article, current_user),
            "ArticleState": ArticleState,
            "AssignmentStatus": AssignmentStatus,
            "state_of": lambda value: ArticleState(value),
            "status_of": lambda value: AssignmentStatus(value),
            "today": datetime.now(UTC).date(),
            "site_name": public_url.site_name(),
            "public_url_for": public_url.public_url_for,
            #: Called by the layout on public pages only: one cached read of the site's settings.
            "site_settings": site.current,
        }

    app.jinja_env.filters["human_date"] = human_date
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["when_utc"] = lambda value, seconds=False: when(value, ZoneInfo("UTC"), seconds)
    app.jinja_env.filters["relative_due"] = relative_due
    app.jinja_env.filters["short_hash"] = short_hash
    #: Every count sentence: ``{{ n | counted('approved article') }}``, ``{{ n | counted('reply', 'replies') }}``;
    #: ``{{ n | plural('is', 'are') }}`` for the verb that goes with it.
    app.jinja_env.filters["counted"] = counted
    app.jinja_env.filters["plural"] = plural
    register_static_fingerprints(app)
