"""Publishing exact approved revisions, unpublishing and re-review. The public record is read in
``reviewflow.public.queries``; review certificates are in ``publishing.certificates``.

A published version is written once with everything a reader and an auditor need:
the rendered HTML, the writer, the publisher, and each reviewer's sign-off copied from
the signed decision (credentials as signed). Nothing here changes a version afterwards.
"""
from __future__ import annotations

import html
import re
from datetime import date, timedelta

import nh3
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, raiseload

from reviewflow import policy
from reviewflow.articles import workflow
from reviewflow.articles.models import Article, Revision
from reviewflow.articles.rendering import render_markdown
from reviewflow.articles.services import get_revision
from reviewflow.audit import services as audit
from reviewflow.auth.models import User
from reviewflow.errors import Conflict, InvalidInput, NotFound
from reviewflow.extensions import db, utcnow
from reviewflow.ids import as_id
from reviewflow.notifications.services import notify
from reviewflow.public.pagecache import LISTS, public_changed
from reviewflow.publishing.models import PublishedReview, PublishedVersion
from reviewflow.reviews.models import Decision
from reviewflow.reviews.services import approvals_behind
from reviewflow.sources import services as sources
from reviewflow.textrules import one_line
from reviewflow.webhooks import services as webhooks

NOTE_MAX = 500


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    return day


def _write_version(actor, article: Article, rev: Revision, decisions: list[Decision], kind: str,
                   change_note: str, number: int, now, event_seq: int) -> PublishedVersion:
    body_html = render_markdown(rev.body)
    version = PublishedVersion(
        article_id=article.id, version=number, revision_number=rev.number, content_hash=rev.content_hash,
        slug=article.slug, title=rev.title, topic=article.topic, body_html=body_html,
        summary=summary_of(body_html), kind=kind, published_at=now,
        last_reviewed_at=max(d.signed_at for d in decisions),
        publisher_id=getattr(actor, "id", None) if kind == "publish" else None,
        publisher_name=getattr(actor, "name", "") if kind == "publish" else "",
        writer_id=article.writer_id, writer_name=article.writer.name, change_note=change_note, audit_seq=event_seq,
        sources_json=sources.published_snapshot(article, rev.number),
    )
    db.session.add(version)
    db.session.flush()
    for d in decisions:
        p = d.profile
        db.session.add(PublishedReview(
            published_version_id=version.id, decision_id=d.id, reviewer_id=d.reviewer_id, name=d.printed_name,
            credentials=d.credentials, specialty=d.specialty, affiliation=p.affiliation,
            organization=p.organization, license_number=d.license_number, reviewed_at=d.signed_at,
            meaning=d.meaning, checklist=d.checklist, decision_audit_seq=d.audit_seq,
        ))
    article.live_version = number
    article.unpublished_at, article.unpublish_reason = None, None
    article.rereview_due = _add_months(now.date(), article.rereview_months)
    db.session.flush()
    public_changed(article.id, LISTS)
    return version


def byline_details(actor, kind: str, number: int, rev: Revision, decisions: list[Decision], now) -> dict:
    """What the ``article.published`` / ``article.rereviewed`` event carries: everything the version's
    byline shows, so ``audit verify`` can prove the published tables from the chain."""
    return {"version": number, "revision": rev.number, "content_hash": rev.content_hash,
            "published_at": now.isoformat(),
            "publisher_id": getattr(actor, "id", None) if kind == "publish" else None,
            "publisher": getattr(actor, "name", "") if kind == "publish" else "",
            "reviewed_by": [{"decision_id": d.id, "reviewer_id": d.reviewer_id, "name": d.printed_name,
                             "credentials": d.credentials, "specialty": d.specialty,
                             "reviewed_at": d.signed_at.isoformat()} for d in decisions]}


def summary_of(body_html: str, limit: int = 300) -> str:
    """The opening text of an article for lists and feeds: headings and citation numbers left out (no
    "damage.1 Acetaminophen"), cut at a word near ``limit``."""
    body_html = re.sub(r'<sup class="cite">.*?</sup>', "", body_html, flags=re.S)
    text = re.sub(r"\s+", " ", nh3.clean(re.sub(r"<h([1-6])>.*?</h\1>", " ", body_html, flags=re.S), tags=set()))
    text = html.unescape(text).strip()
    if len(text) <= limit:
        return text
    cut = text[:limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return cut + "…"


def _clean_note(note) -> str:
    return one_line(note, "change_note", NOTE_MAX, required=False)


def publish_revision(actor, article: Article, revision_number, change_note: str | None = None) -> PublishedVersion:
    """Publish exactly this revision (editors who neither wrote nor reviewed it: four eyes).

    Refusals: 404/403 from the policy; 409 unless the article is approved and this is its
    current revision, and unless signed approvals stand behind it. An update without a change
    note gets a plain one.
    """
    if isinstance(revision_number, bool) or not isinstance(revision_number, int | str):
        raise InvalidInput("revision must be a revision number.", field="revision")
    rev = get_revision(article, revision_number)
    workflow.check(article, "publish", actor, revision=rev)
    note = _clean_note(change_note) or ("First published." if article.live_version is None and not
                                        versions_of(article.id) else f"Updated to revision {rev.number}.")
    decisions = approvals_behind(article, rev.number)
    if not decisions:
        raise Conflict("No signed approval stands behind this revision, so it cannot be published.")
    number, now = _next_version(article), utcnow()
    event = workflow.apply(article, "publish", actor=actor, role="editor", revision=rev,
                           details={**byline_details(actor, "publish", number, rev, decisions, now),
                                    "change_note": note})
    version = _write_version(actor, article, rev, decisions, "publish", note, number, now, event.seq)
    webhooks.queue_article_event("article.published", article, version)
    notify(article.writer, f"“{article.title}” is published (version {number}).", f"/articles/{article.slug}",
           article=article, kind="publication", detail=note or "")
    return version


def _next_version(article: Article) -> int:
    return (db.session.scalar(select(func.max(PublishedVersion.version))
                              .where(PublishedVersion.article_id == article.id)) or 0) + 1


def _live_revision(article: Article) -> int | None:
    """The revision number readers see now, or None when the article is not live."""
    if article.live_version is None:
        return None
    return db.session.scalar(select(PublishedVersion.revision_number).where(
        PublishedVersion.article_id == article.id, PublishedVersion.version == article.live_version))


def _republish(actor, article: Article, role: str) -> PublishedVersion:
    """A re-review of the live, unchanged text is complete: write a new published version with the same
    text, a new "last reviewed" date and exactly the approvals signed for this re-review. Called by
    the workflow when a transition completes a re-review; nobody else calls it."""
    rev = get_revision(article, article.current_revision)
    decisions = approvals_behind(article, rev.number)
    number, now = _next_version(article), utcnow()
    event = audit.record("article.rereviewed", actor=actor, role=role, target=article, article=article, revision=rev,
                         before=article.state, after=article.state,
                         details={**byline_details(actor, "rereview", number, rev, decisions, now), "kind": "rereview"})
    version = _write_version(actor, article, rev, decisions, "rereview",
                             "Medically re-reviewed; no changes to the text.", number, now, event.seq)
    webhooks.queue_article_event("article.rereviewed", article, version)
    return version


workflow.on_rereviewed(_live_revision, _republish)


def unpublish_article(actor, article: Article, reason) -> Article:
    """Take the article off the public site (editors); its URL then answers 410 with the reason."""
    workflow.check(article, "unpublish", actor)
    reason = one_line(reason, "reason", NOTE_MAX) if isinstance(reason, str) and reason.strip() else None
    if reason is None:
        raise InvalidInput("Give the reason for unpublishing; readers see a short notice.", field="reason")
    live = article.live_version
    workflow.apply(article, "unpublish", actor=actor, role="editor", details={"reason": reason, "version": live})
    article.live_version = None
    article.unpublished_at, article.unpublish_reason = utcnow(), reason
    article.rereview_due = None
    db.session.flush()
    webhooks.queue_article_event("article.unpublished", article, reason=reason)
    public_changed(article.id, LISTS)
    return article


def set_rereview_interval(actor, article: Article, months) -> Article:
    """Set how often a published article is re-reviewed (editors); the due date follows."""
    policy.authorize(actor, "article.schedule_rereview", article)
    try:
        months = int(months)
    except (TypeError, ValueError):
        raise InvalidInput("The interval must be a number of months.", field="months") from None
    if not 1 <= months <= 60:
        raise InvalidInput("The interval must be between 1 and 60 months.", field="months")
    before = article.rereview_months
    article.rereview_months = months
    live = live_version_of(article)
    if live is not None:
        article.rereview_due = _add_months(live.last_reviewed_at.date(), months)
    db.session.flush()
    audit.record("rereview.scheduled", actor=actor, role="editor", target=article, article=article,
                 details={"months": [before, months], "due": article.rereview_due.isoformat()
                          if article.rereview_due else None})
    return article


def live_version_of(article: Article) -> PublishedVersion | None:
    """The version readers see now, or None when the article is not live."""
    if article.live_version is None:
        return None
    return db.session.scalar(select(PublishedVersion).where(
        PublishedVersion.article_id == article.id, PublishedVersion.version == article.live_version))


def versions_of(article_id: int) -> list[PublishedVersion]:
    """Every published version of an article, oldest first (with their sign-offs)."""
    return list(db.session.scalars(select(PublishedVersion).where(PublishedVersion.article_id == article_id)
                                   .order_by(PublishedVersion.version)))


def get_version(article: Article, number) -> PublishedVersion:
    """Published version ``number`` of the article; NotFound for any other number."""
    key = as_id(number)
    if key is None:
        raise NotFound("There is no such published version.")
    version = db.session.scalar(select(PublishedVersion).where(
        PublishedVersion.article_id == article.id, PublishedVersion.version == key))
    if version is None:
        raise NotFound(f"“{article.title}” has no published version {key}.")
    return version


def rereviews_due(within_days: int = 30, limit: int = 50) -> list[Article]:
    """Live articles whose re-review is due within ``within_days`` or overdue, most overdue first."""
    horizon = utcnow().date() + timedelta(days=within_days)
    return list(db.session.scalars(
        select(Article).where(Article.live_version.is_not(None), Article.rereview_due <= horizon)
        .options(joinedload(Article.writer), raiseload(Article.revision))
        .order_by(Article.rereview_due, Article.id).limit(limit)))


def queue_rereview_reminders(editors: list[User], articles: list[Article]) -> int:
    """Notify each editor of each re-review due; returns how many reminders were queued."""
    for editor in editors:
        for a in articles:
            notify(editor, f"Re-review of “{a.title}” is due on {a.rereview_due.isoformat()}.",
                   f"/work/articles/{a.id}", article=a, kind="rereview")
    return len(editors) * len(articles)
