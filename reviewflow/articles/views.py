"""Staff pages for articles: the dashboard, drafting, history, diffs and submission."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

bp = Blueprint("articles", __name__)


@bp.get("/dashboard")
@login_required
def dashboard():
    return render_template("articles/dashboard.html", user=current_user)
