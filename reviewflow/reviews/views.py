"""Staff pages for review: the reviewer's queue, assignment, annotation and signing."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

bp = Blueprint("reviews", __name__)


@bp.get("/reviews")
@login_required
def queue():
    return render_template("reviews/queue.html")
