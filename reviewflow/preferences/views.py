"""The preferences page: /account/preferences (anyone signed in, for themselves only)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from reviewflow.errors import InvalidInput, refusal_to
from reviewflow.extensions import db, utcnow
from reviewflow.preferences import services
from reviewflow.templating import when

bp = Blueprint("preferences", __name__)


@bp.route("/account/preferences", methods=["GET", "POST"])
@login_required
def preferences():
    """Pick the time zone one's pages show times in; the page shows the current time in it."""
    me = current_user._get_current_object()
    chosen = request.form.get("time_zone", "") if request.method == "POST" else me.time_zone
    with refusal_to(None, InvalidInput) as refused:
        if request.method == "POST":
            changed = services.set_time_zone(me, chosen)
            db.session.commit()
            flash(f"Times are now shown in {me.time_zone}." if changed else "Nothing changed.",
                  "success" if changed else "info")
            return redirect(url_for("preferences.preferences"), code=303)
    return render_template("preferences/preferences.html", zones=services.ZONES, chosen=chosen,
                           error=refused.message, now=when(utcnow())), refused.status
