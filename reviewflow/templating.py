"""What every template can use: the policy's ``can``, state enums, time formatting, and the public
site's name and absolute addresses (``public_url``)."""
from __future__ import annotations

from datetime import UTC, date, datetime

from flask import Flask
from flask_login import current_user

from reviewflow import policy, public_url
from reviewflow.articles.models import ArticleState
from reviewflow.articles.workflow import available_transitions
from reviewflow.reviews.models import AssignmentStatus


def human_date(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
    return f"{value:%B} {value.day}, {value.year}"


def relative_due(value: date | None) -> str:
    if value is None:
        return "no due date"
    days = (value - datetime.now(UTC).date()).days
    if days == 0:
        return "due today"
    if days < 0:
        return f"{-days} day{'s' if days != -1 else ''} overdue"
    return f"in {days} day{'s' if days != 1 else ''}"


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
        }

    app.jinja_env.filters["human_date"] = human_date
    app.jinja_env.filters["relative_due"] = relative_due
    app.jinja_env.filters["short_hash"] = lambda h: f"{h[:4]}…{h[-4:]}" if h else ""
