"""The preferences page: /account/preferences (anyone signed in, for themselves only)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from reviewflow.errors import InvalidInput, refusal_to
from reviewflow.extensions import db, utcnow
from reviewflow.notifications.models import EmailMode
from reviewflow.notifications.services import email_mode
from reviewflow.preferences import services
from reviewflow.templating import when

bp = Blueprint("preferences", __name__)

#: What the flash says once a choice of e-mail is saved.
EMAIL_SAVED = {EmailMode.IMMEDIATELY: "You get an e-mail for each notification as it happens.",
               EmailMode.HOURLY: "You get at most one e-mail an hour: a digest of your notifications.",
               EmailMode.DAILY: "You get one digest e-mail each morning, at 08:00 in your time zone.",
               EmailMode.OFF: "You get no e-mail about notifications; they stay in your list."}


@bp.route("/account/preferences", methods=["GET", "POST"])
@login_required
def preferences():
    """Pick the time zone one's pages show times in (the page shows the current time in it), and how
    notifications reach one by e-mail. Each has its own form: a POST changes what it sends."""
    me = current_user._get_current_object()
    posted = request.form if request.method == "POST" else {}
    chosen = posted.get("time_zone", me.time_zone)
    mode = posted.get("email_mode", email_mode(me).value)
    with refusal_to(None, InvalidInput) as refused:
        if request.method == "POST":
            return _save(me, mode if "email_mode" in posted else None, chosen)
    field = refused.error.field if refused else None
    return render_template("preferences/preferences.html", zones=services.ZONES, chosen=chosen,
                           error=refused.message if field == "time_zone" else None,
                           modes=list(EmailMode), mode=mode,
                           mode_error=refused.message if field == "email_mode" else None,
                           now=when(utcnow())), refused.status


def _save(me, mode: str | None, zone: str):
    """The e-mail choice when that form was sent (``mode``), else the time zone; then back to the page."""
    if mode is not None:
        changed = services.set_email_mode(me, mode)
        message = EMAIL_SAVED[EmailMode(mode)]
    else:
        changed = services.set_time_zone(me, zone)
        message = f"Times are now shown in {me.time_zone}."
    db.session.commit()
    flash(message if changed else "Nothing changed.", "success" if changed else "info")
    return redirect(url_for("preferences.preferences"), code=303)
