"""The admins' view of the outbox: the mail that waits for ``send-mail``, and the mail it set aside."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user, login_required

from reviewflow import policy
from reviewflow.extensions import utcnow
from reviewflow.notifications import outbox as mail

bp = Blueprint("notifications", __name__)


def _cursor_args(keyset) -> dict[str, str]:
    """The query-string cursor of one list, kept in the other list's links (one value per name)."""
    return {name: request.args[name] for name in (keyset.next, keyset.prev) if name in request.args}


@bp.get("/admin/mail")
@login_required
def admin_mail():
    """The queue, oldest first, with each mail's attempts, last error and next attempt; and the mail set
    aside, newest first, with why. Each list pages on its own (admins)."""
    policy.require(current_user, "admin.manage")
    per_page = current_app.config["PER_PAGE"]
    waiting, aside = mail.QUEUE_KEYSET, mail.SET_ASIDE_KEYSET
    queue = waiting.link(mail.queue_page(waiting.read(request.args), per_page), "notifications.admin_mail",
                         **_cursor_args(aside))
    page = aside.link(mail.set_aside_page(aside.read(request.args), per_page), "notifications.admin_mail",
                      **_cursor_args(waiting))
    return render_template("admin/mail.html", queue=queue, page=page, now=utcnow(), max_attempts=mail.MAX_ATTEMPTS)
