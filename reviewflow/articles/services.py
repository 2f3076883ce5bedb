"""Creating articles, saving revisions and submitting them.

Services take the actor, ask the policy (through ``workflow.apply`` or directly),
flush and never commit: the view or API endpoint commits once, so a change and its
audit event land together or not at all.
"""
from __future__ import annotations

from slugify import slugify
from sqlalchemy import func, select

from reviewflow import policy
from reviewflow.articles import workflow
from reviewflow.articles.anchoring import context_of, locate
from reviewflow.articles.models import Article, ArticleState, Revision, content_hash
from reviewflow.audit import services as audit
from reviewflow.audit.actions import AuditAction
from reviewflow.errors import InvalidInput, NotFound
from reviewflow.extensions import db
from reviewflow.ids import as_id, get_or_404
from reviewflow.notifications.services import notify, notify_role
from reviewflow.reviews.models import Annotation
from reviewflow.sources import services as sources
from reviewflow.sources import status
from reviewflow.textrules import multi_line, one_line

TITLE_MAX = 200
BODY_MAX = 200_000
NOTE_MAX = 500
TOPIC_MAX = 120


def clean_text(title, body, note="", topic=None) -> tuple[str, str, str]:
    """Validate a title, body and note; raises InvalidInput with the field that is wrong.

    Titles, notes and topics are one line (no control characters: a title ends up in mail
    subjects and CSV cells); the body may hold tabs and line breaks but no other control character.
    """
    title = one_line(title, "title", TITLE_MAX)
    body = multi_line(body, "body", BODY_MAX)
    note = one_line(note, "change_note", NOTE_MAX, required=False)
    if topic is not None:
        one_line(topic, "topic", TOPIC_MAX, required=False)
    return title, body, note


def get_article(article_id) -> Article:
    """The article with this id; NotFound for anything that cannot be one."""
    return get_or_404(Article, article_id, "There is no article with that id.")


def get_revision(article: Article, number) -> Revision:
    """Revision ``number`` of the article; NotFound for any other number."""
    key = as_id(number)
    if key is None:
        raise NotFound("There is no such revision.")
    rev = db.session.scalar(select(Revision).where(Revision.article_id == article.id, Revision.number == key))
    if rev is None:
        raise NotFound(f"Revision {key} of this article does not exist.")
    return rev


def revisions_of(article: Article) -> list[Revision]:
    return list(db.session.scalars(
        select(Revision).where(Revision.article_id == article.id).order_by(Revision.number.desc())
    ))


def _unique_slug(title: str) -> str:
    base = slugify(title, max_length=80, word_boundary=True) or "article"
    slug, n = base, 2
    while db.session.scalar(select(func.count()).select_from(Article).where(Article.slug == slug)):
        slug, n = f"{base}-{n}", n + 1
    return slug


def create_article(actor, title, body, topic: str = "", note: str = "") -> Article:
    """Start an article with revision 1 as a draft. Writers only."""
    policy.require(actor, "article.create")
    title, body, note = clean_text(title, body, note, topic)
    article = Article(slug=_unique_slug(title), title=title, topic=(topic or "").strip() or "General health",
                      writer_id=actor.id, state=ArticleState.DRAFT.value, current_revision=1)
    db.session.add(article)
    db.session.flush()
    rev = Revision(article_id=article.id, number=1, title=title, body=body,
                   content_hash=content_hash(title, body), note=note or "First draft", author_id=actor.id)
    db.session.add(rev)
    db.session.flush()
    sources.store_sources(rev)
    audit.record(AuditAction.ARTICLE_CREATED, actor=actor, role="writer", target=article, article=article, revision=rev,
                 after=article.state, details={"slug": article.slug, "topic": article.topic})
    return article


def save_revision(actor, article: Article, title, body, base_revision, note: str = "") -> Revision:
    """Save a new immutable revision on top of ``base_revision``.

    Refuses a stale base (StaleRevision, 409) instead of overwriting. Content under review
    loses its approvals (the workflow's effect); open annotations are re-anchored to the new
    text or marked orphaned.
    """
    if isinstance(base_revision, bool):
        base_revision = None
    try:
        base = int(base_revision)
    except (TypeError, ValueError):
        raise InvalidInput("base_revision must be the number of the revision you edited.",
                           field="base_revision") from None
    workflow.check(article, "revise", actor, base_revision=base)
    title, body, note = clean_text(title, body, note)
    number = article.current_revision + 1
    rev = Revision(article_id=article.id, number=number, title=title, body=body,
                   content_hash=content_hash(title, body), note=note, author_id=actor.id)
    db.session.add(rev)
    db.session.flush()
    previous = status.revision_sources(article.revision.id)
    stored = sources.store_sources(rev)
    article.current_revision = number
    article.title = title
    anchoring = _reanchor(article, rev)
    workflow.apply(article, "revise", actor=actor, role="writer", revision=rev,
                   details={"note": note, **anchoring, "sources": sources.changes_between(previous, stored)})
    db.session.expire(article, ["revision"])  # later steps in this transaction see the new current revision
    return rev


def _reanchor(article: Article, rev: Revision) -> dict:
    """Move each open annotation to the new revision where its quote still matches; orphan the rest."""
    moved, orphaned = [], []
    for ann in db.session.scalars(select(Annotation).where(
            Annotation.article_id == article.id, Annotation.status == "open").order_by(Annotation.id)):
        start = locate(rev.body, ann.quote, ann.prefix, ann.suffix, ann.position)
        if start is None:
            if not ann.orphaned:
                orphaned.append(ann.id)
            ann.orphaned = True
        else:
            ann.anchored_revision, ann.position, ann.orphaned = rev.number, start, False
            ann.prefix, ann.suffix = context_of(rev.body, start, ann.quote)
            moved.append(ann.id)
    return {"annotations_reanchored": moved, "annotations_orphaned": orphaned}


def submit_article(actor, article: Article) -> Article:
    """Submit for review: ``submitted``, or straight to ``in_review`` when reviewers are assigned
    (the workflow puts their assignments back to pending). After a request for changes, only a
    new revision can be submitted (409)."""
    workflow.apply(article, "submit", actor=actor, role="writer", revision=article.revision)
    if article.state == ArticleState.SUBMITTED:
        notify_role("editor", f"“{article.title}” was submitted and needs a reviewer.",
                    f"/work/articles/{article.id}/assign", exclude=actor, article=article, kind="submission")
    for a in workflow.active_assignments(article):
        notify(a.reviewer, f"“{article.title}” (revision {article.current_revision}) is ready for your review.",
               f"/work/articles/{article.id}/review", article=article, kind="submission")
    return article
