"""Reading the audit trail: the global log, one event's full record, an article's timeline,
exports (CSV and JSON Lines) and verifying the chain on demand.

Read-only except ``verify_now``, which records a verification run. Who may read what is
the policy's ``audit.view_all`` (editors, admins) and ``audit.view_article`` (the article's staff).
"""
from __future__ import annotations

import json

from flask import Blueprint, Response, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from reviewflow import policy
from reviewflow.articles import services as articles
from reviewflow.articles.models import Article
from reviewflow.audit import queries
from reviewflow.audit import services as audit
from reviewflow.audit.models import AuditEvent
from reviewflow.audit.queries import LogFilter, describe
from reviewflow.auth.views import safe_next
from reviewflow.errors import InvalidInput, NotFound
from reviewflow.extensions import db, utcnow

bp = Blueprint("audit", __name__)

MIMETYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


@bp.app_template_filter("describe_event")
def describe_event(event: AuditEvent, title: str | None = None) -> str:
    """Template filter: the event as a plain sentence (see ``queries.describe``)."""
    return describe(event, title)


def _titles(events: list[AuditEvent]) -> dict[int, str]:
    """Title of each article named on a page, in one query; an article event keeps the title it had then."""
    ids = {e.article_id for e in events if e.article_id}
    current = dict(db.session.execute(select(Article.id, Article.title).where(Article.id.in_(ids))).all()) if ids \
        else {}
    return {e.seq: (e.target_label if e.target_type == "article" and e.target_label else current.get(e.article_id, ""))
            for e in events if e.article_id}


@bp.get("/audit")
@login_required
def log():
    """The global log, newest first, filtered and keyset-paginated on ``seq`` (editors and admins)."""
    policy.require(current_user, "audit.view_all")
    filters = LogFilter.from_args(request.args)
    page = queries.LOG_KEYSET.link(queries.log_page(filters, queries.LOG_KEYSET.read(request.args)), "audit.log",
                                   **filters.args())
    return render_template("audit/log.html", page=page, filters=filters, titles=_titles(page.events),
                           actions=queries.distinct_actions(), verification=audit.last_verification()), \
        400 if filters.errors else 200


@bp.get("/audit/export")
@login_required
def export():
    """Download the events of the current filter in chain order, streamed, as CSV or JSON Lines
    (who may: ``_may_export``)."""
    filters = LogFilter.from_args(request.args)
    if filters.errors:
        raise InvalidInput(" ".join(filters.errors))
    fmt = request.args.get("format", "csv")
    if fmt not in queries.EXPORT_FORMATS:
        raise InvalidInput("The export format must be csv or jsonl.", field="format")
    _may_export(filters)
    scope = f"-article-{filters.article_id}" if filters.article_id else ""
    name = f"reviewflow-audit{scope}-{utcnow():%Y%m%dT%H%M%SZ}.{fmt}"
    return Response(stream_with_context(queries.iter_export(fmt, filters)), mimetype=MIMETYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _may_export(filters: LogFilter) -> None:
    """Editors and admins export anything; an article's staff may export that article's events, and to
    anyone else the article does not exist (404)."""
    if policy.can(current_user, "audit.view_all"):
        return
    if not filters.article_id:
        policy.require(current_user, "audit.view_all")
    policy.authorize(current_user, "audit.view_article", articles.get_article(filters.article_id))


@bp.get("/audit/events/<int:seq>")
@login_required
def event(seq: int):
    """One event's full record: every field, the details pretty-printed, the previous hash and its own."""
    ev = queries.get_event(seq)
    if ev is None:
        raise NotFound(f"There is no audit event number {seq}.")
    article = db.session.get(Article, ev.article_id) if ev.article_id else None
    if not policy.can(current_user, "audit.view_all"):
        policy.require(current_user, "audit.view_article" if article else "audit.view_all", article)
    details = queries.details_of(ev)
    pretty = json.dumps(details, indent=2, sort_keys=True, ensure_ascii=False) if details or ev.details == "{}" \
        else ev.details
    prev_seq, next_seq = queries.neighbours(ev)
    return render_template("audit/event.html", event=ev, article=article, details=pretty, prev_seq=prev_seq,
                           next_seq=next_seq, title=_titles([ev]).get(ev.seq, ""),
                           verification=audit.last_verification())


@bp.get("/work/articles/<int:article_id>/audit")
@login_required
def article_timeline(article_id: int):
    """One article's events in plain words, oldest first (the article's writer, reviewers, editors, admins);
    to anyone else the article does not exist (404)."""
    article = articles.get_article(article_id)
    policy.authorize(current_user, "audit.view_article", article)
    keyset = queries.TIMELINE_KEYSET
    page = keyset.link(queries.article_events(article.id, keyset.read(request.args)), "audit.article_timeline",
                       article_id=article.id)
    return render_template("audit/article_timeline.html", article=article, page=page,
                           verification=audit.last_verification())


@bp.post("/audit/verify")
@login_required
def verify_now():
    """Recompute the whole chain, its head and the tables it signs now and record the result (editors and
    admins); names the first bad event."""
    policy.require(current_user, "audit.verify")
    result = audit.verify(parallel=False)
    if result.ok:
        flash(f"Audit chain verified: {result.count} events hold ({result.seconds:.2f} s).", "success")
    else:
        where = f" at event {result.first_bad_seq}" if result.first_bad_seq is not None else ""
        flash(f"Audit chain BROKEN{where}: {result.reason}. Keep the database as it is and tell whoever looks "
              "after the servers.", "error")
    return redirect(safe_next(request.form.get("next")) or url_for("audit.log"))

