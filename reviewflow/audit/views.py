"""Reading the audit trail: the global log, exports."""
from __future__ import annotations

import csv
import json

from flask import Blueprint, render_template
from flask_login import login_required
from sqlalchemy import select

from reviewflow.audit.models import AuditEvent
from reviewflow.audit.services import FIELDS
from reviewflow.extensions import db

bp = Blueprint("audit", __name__)


@bp.get("/audit")
@login_required
def log():
    return render_template("audit/log.html")


def export_rows(output, fmt: str, article_id: int | None = None) -> int:
    """Stream events in chain order to ``output`` as JSON Lines or CSV; returns the count."""
    stmt = select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=2000)
    if article_id:
        stmt = stmt.where(AuditEvent.article_id == article_id)
    writer = csv.writer(output) if fmt == "csv" else None
    if writer:
        writer.writerow(FIELDS)
    n = 0
    for e in db.session.scalars(stmt):
        row = {f: getattr(e, f) for f in FIELDS}
        row["occurred_at"] = e.occurred_at.isoformat()
        if writer:
            writer.writerow([row[f] for f in FIELDS])
        else:
            output.write(json.dumps(row, sort_keys=True) + "\n")
        n += 1
    return n
