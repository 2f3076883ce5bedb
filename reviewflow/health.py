"""``GET /healthz``: whether this process and its database answer, for load balancers.

200 ``{"status": "ok"}`` when a ``SELECT 1`` comes back, 503 ``{"status": "unavailable"}``
(with ``Retry-After``) otherwise. No authentication, no session, no CSRF, never cached. It sits
outside ``/api/v1`` and the public fast path, so neither its token check nor a cached page can
stand in for the database's answer. A failure counts towards the outage log like any refused
request (``outages.Outage``): logged once, and a later success logs the recovery.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from reviewflow.extensions import csrf, db
from reviewflow.outages import RETRY_AFTER, note_unavailable

bp = Blueprint("health", __name__)
csrf.exempt(bp)


@bp.get("/healthz")
def healthz():
    """200 when the database answers ``SELECT 1``; 503 on any database error, whatever its kind."""
    try:
        db.session.execute(text("SELECT 1")).scalar_one()
    except Exception as exc:  # any failure to answer means "do not send traffic here"
        note_unavailable(current_app._get_current_object(), exc)
        response = jsonify({"status": "unavailable"})
        response.status_code = 503
        response.headers["Retry-After"] = str(RETRY_AFTER)
    else:
        response = jsonify({"status": "ok"})
    response.headers["Cache-Control"] = "no-store"
    return response
