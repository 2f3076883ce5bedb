"""Publishing exact approved revisions, unpublishing, re-review, and reading the public record.

A published version is written once with everything a reader and an auditor need:
the rendered HTML, the writer, the publisher, and each reviewer's sign-off copied from
the signed decision (credentials as signed). Nothing here changes a version afterwards.
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import nh3
from flask import Flask, current_app, has_app_context
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, defer, joinedload, raiseload, selectinload

from reviewflow import policy
from reviewflow.articles import workflow
from reviewflow.articles.models import Article, Revision, content_hash
from reviewflow.articles.rendering import render_markdown
from reviewflow.articles.services import get_revision
from reviewflow.audit import services as audit
from reviewflow.audit.models import AuditVerification
from reviewflow.auth.models import User
from reviewflow.errors import Conflict, InvalidInput, NotFound
from reviewflow.extensions import db, utcnow
from reviewflow.notifications.services import notify
from reviewflow.publishing.models import PublishedReview, PublishedVersion
from reviewflow.publishing.pagecache import CHANGED_KEY, TTLCache, generation_reader, public_changed
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
    public_changed()
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
    notify(article.writer, f"“{article.title}” is published (version {number}).", f"/articles/{article.slug}")
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
    public_changed()
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
    try:
        number = int(number)
    except (TypeError, ValueError):
        raise NotFound("There is no such published version.") from None
    version = db.session.scalar(select(PublishedVersion).where(
        PublishedVersion.article_id == article.id, PublishedVersion.version == number)) if 0 < number < 2**31 else None
    if version is None:
        raise NotFound(f"“{article.title}” has no published version {number}.")
    return version


@dataclass
class PublicArticle:
    """Everything the public page and ``/api/v1/published/{slug}`` show, loaded in a few queries."""

    article: Article
    version: PublishedVersion | None
    versions: list[PublishedVersion]
    writer: User
    reviewers: dict[int, User]

    @property
    def gone(self) -> bool:
        return self.version is None

    @property
    def first_published_at(self):
        return self.versions[0].published_at if self.versions else None


def public_article(slug: str) -> PublicArticle:
    """The latest published version of ``slug`` with its history; NotFound if never published.

    An unpublished article comes back with ``version`` None (``gone``): its address answers 410.
    """
    if not isinstance(slug, str) or len(slug) > 200:
        raise NotFound("There is no article at this address.")
    article = db.session.scalar(select(Article).where(Article.slug == slug))
    if article is None:
        raise NotFound("There is no article at this address.")
    versions = versions_of(article.id)
    if not versions:
        raise NotFound("There is no article at this address.")
    live = next((v for v in versions if v.version == article.live_version), None)
    ids = {r.reviewer_id for v in versions for r in v.reviews}
    reviewers = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids))
                                                     .options(selectinload(User.profile)))} if ids else {}
    return PublicArticle(article, live, versions, article.writer, reviewers)


def _live_versions():
    """Published versions that are live now: the article's ``live_version``."""
    return select(PublishedVersion).join(Article, (Article.id == PublishedVersion.article_id)
                                         & (Article.live_version == PublishedVersion.version))


def published_list(topic: str | None = None, before: tuple | None = None, limit: int = 20, *,
                   after: tuple | None = None, reviewer_id: int | None = None, writer_id: int | None = None,
                   exclude_article_id: int | None = None):
    """Live articles, newest first, keyset-paginated on (published_at, id) of the live version.

    ``before`` gives the page after a row (older), ``after`` the page before it (newer); either is
    a ``(published_at, id)`` pair. Returns ``(rows, more)``: ``more`` says whether another page lies
    in the direction asked. Filters: topic, the reviewer behind the live version, the writer.
    """
    q = _live_versions().options(defer(PublishedVersion.body_html))  # lists show the summary, not the text
    if topic:
        q = q.where(PublishedVersion.topic == topic)
    if reviewer_id is not None:
        q = q.where(PublishedVersion.id.in_(select(PublishedReview.published_version_id)
                                            .where(PublishedReview.reviewer_id == reviewer_id)))
    if writer_id is not None:
        q = q.where(PublishedVersion.writer_id == writer_id)
    if exclude_article_id is not None:
        q = q.where(PublishedVersion.article_id != exclude_article_id)
    if after:
        q = q.where((PublishedVersion.published_at > after[0])
                    | ((PublishedVersion.published_at == after[0]) & (PublishedVersion.id > after[1])))
        q = q.order_by(PublishedVersion.published_at, PublishedVersion.id).limit(limit + 1)
        rows = list(db.session.scalars(q))
        return list(reversed(rows[:limit])), len(rows) > limit
    if before:
        q = q.where((PublishedVersion.published_at < before[0])
                    | ((PublishedVersion.published_at == before[0]) & (PublishedVersion.id < before[1])))
    q = q.order_by(PublishedVersion.published_at.desc(), PublishedVersion.id.desc()).limit(limit + 1)
    rows = list(db.session.scalars(q))
    return rows[:limit], len(rows) > limit


def topics() -> list[tuple[str, int]]:
    """Topics of the live articles with how many each has, alphabetically (the topic as published).

    Counting reads every live version, so the answer is kept in the process's public cache: at most
    one count per ``PUBLIC_CACHE_SECONDS`` per process, emptied by a publish or unpublish here.
    """
    cache = public_cache()
    found = cache.get(("topics",))
    if found is None:
        found = _count_topics()
        cache.put(("topics",), found)
    return found


def _count_topics() -> list[tuple[str, int]]:
    return [tuple(r) for r in db.session.execute(
        select(PublishedVersion.topic, func.count()).join(Article, (Article.id == PublishedVersion.article_id)
                                                          & (Article.live_version == PublishedVersion.version))
        .group_by(PublishedVersion.topic).order_by(PublishedVersion.topic)).all()]


def sitemap_entries() -> list[tuple[str, datetime]]:
    """``(slug, published_at)`` of every live article, newest first: one query."""
    return [tuple(r) for r in db.session.execute(
        select(PublishedVersion.slug, PublishedVersion.published_at)
        .join(Article, (Article.id == PublishedVersion.article_id) & (Article.live_version == PublishedVersion.version))
        .order_by(PublishedVersion.published_at.desc(), PublishedVersion.id.desc())).all()]


def has_public_reviews(user_id: int) -> bool:
    """True when the person signed off any published version (their byline links must keep working)."""
    return db.session.scalar(select(PublishedReview.id).where(PublishedReview.reviewer_id == user_id).limit(1)) \
        is not None


def has_published_writing(user_id: int) -> bool:
    """True when the person wrote any published version."""
    return db.session.scalar(select(PublishedVersion.id).where(PublishedVersion.writer_id == user_id).limit(1)) \
        is not None


@dataclass
class CertificateLine:
    """One reviewer's sign-off behind a published version, with the signed decision it copies."""

    review: PublishedReview
    decision: Decision

    @property
    def checklist(self) -> list[str]:
        return checklist_of(self.review)


@dataclass
class Certificate:
    """What a review certificate prints: the version, the revision text's recomputed hash, each
    sign-off joined to its signed decision, and the chain's last verification."""

    article: Article
    version: PublishedVersion
    revision: Revision
    lines: list[CertificateLine]
    verification: AuditVerification | None
    #: Each source of the version with every verdict given on its text up to publication, oldest first.
    sources: list[tuple[dict, list]] = field(default_factory=list)

    @property
    def hash_matches(self) -> bool:
        """The stored hash equals the one recomputed from the revision's text, and every decision signed it."""
        recomputed = content_hash(self.revision.title, self.revision.body)
        return recomputed == self.version.content_hash == self.revision.content_hash and all(
            line.decision.content_hash == recomputed for line in self.lines)


def certificate(article: Article, number) -> Certificate:
    """The review certificate of published version ``number`` (NotFound for unknown versions)."""
    version = get_version(article, number)
    rev = get_revision(article, version.revision_number)
    ids = [r.decision_id for r in version.reviews]
    decisions = {d.id: d for d in db.session.scalars(select(Decision).where(Decision.id.in_(ids)))} if ids else {}
    lines = [CertificateLine(r, decisions[r.decision_id]) for r in version.reviews]
    return Certificate(article, version, rev, lines, audit.last_verification(),
                       sources.verdicts_behind(article, version.sources, version.published_at))


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
                   f"/work/articles/{a.id}")
    return len(editors) * len(articles)


CACHE_KEY = "reviewflow.public_cache"


def public_cache(app: Flask | None = None) -> TTLCache:
    """This process's cache of finished public pages, one per app (``publishing.pagecache``): entries
    renewed every ``PUBLIC_CACHE_SECONDS`` while the public counter holds, bounded by
    ``PUBLIC_CACHE_ENTRIES`` and ``PUBLIC_CACHE_MAX_BYTES``."""
    app = app or current_app
    cache = app.extensions.get(CACHE_KEY)
    if cache is None:
        with app.app_context():
            reader = generation_reader(db.engine)
        cache = app.extensions[CACHE_KEY] = TTLCache(
            app.config.get("PUBLIC_CACHE_SECONDS", 1.0), size=app.config.get("PUBLIC_CACHE_ENTRIES", 20000),
            generation=reader, max_bytes=app.config.get("PUBLIC_CACHE_MAX_BYTES", 256 << 20))
    return cache


@event.listens_for(Session, "after_commit")
def _clear_public_cache(session) -> None:
    if session.info.pop(CHANGED_KEY, False) and has_app_context():
        cache = current_app.extensions.get(CACHE_KEY)
        if cache is not None:
            cache.clear()


@event.listens_for(Session, "after_rollback")
def _forget_public_change(session) -> None:
    session.info.pop(CHANGED_KEY, None)


def checklist_of(review: PublishedReview) -> list[str]:
    """The checklist items the reviewer ticked when signing (a JSON list in the record)."""
    try:
        items = json.loads(review.checklist or "[]")
    except ValueError:
        return []
    return [i for i in items if isinstance(i, str)] if isinstance(items, list) else []
