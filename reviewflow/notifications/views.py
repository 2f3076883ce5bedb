"""The admins' view of the outbox: mail that ``send-mail`` set aside, and how much waits."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user, login_required

from reviewflow import policy
from reviewflow.notifications import services as mail

bp = Blueprint("notifications", __name__)


@bp.get("/admin/mail")
@login_required
def admin_mail():
    """Set-aside mails, newest first, with why they were set aside, and the count still queued (admins)."""
    policy.require(current_user, "admin.manage")
    keyset = mail.SET_ASIDE_KEYSET
    page = keyset.link(mail.set_aside_page(keyset.read(request.args), current_app.config["PER_PAGE"]),
                       "notifications.admin_mail")
    return render_template("admin/mail.html", page=page, pending=mail.pending_count())
