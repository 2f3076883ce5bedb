"""The endpoints of /api/v1, each a few lines over a service (PRODUCT.md lists them)."""
from __future__ import annotations

from sqlalchemy import select

from reviewflow import policy, public_url
from reviewflow.api import responses as r
from reviewflow.api import schemas as s
from reviewflow.api import serializers as out
from reviewflow.api.openapi import bp, document, operation
from reviewflow.articles import services as articles
from reviewflow.audit.models import AuditEvent
from reviewflow.errors import Gone
from reviewflow.extensions import db
from reviewflow.public import queries as public_queries
from reviewflow.publishing import services as publishing
from reviewflow.reviews import services as reviews
from reviewflow.sources import services as sources

#: The blueprint ``create_app`` registers, with every operation below on it.
__all__ = ["bp"]
#: From an answer that is an article (or names one) to what can be done with it next.
ARTICLE_ID = "$response.body#/id"
ON_ARTICLE = {op: {"id": ARTICLE_ID} for op in ("getArticle", "saveRevision", "submitArticle", "assignReviewer",
                                                 "listAnnotations", "annotate", "signDecision", "publishRevision",
                                                 "unpublishArticle", "listArticleAudit", "listSourceChecks")}
ON_ANNOTATION = {op: {"id": "$response.body#/id"} for op in ("replyToAnnotation", "resolveAnnotation",
                                                              "reopenAnnotation")}
SLUG = {"slug": {"type": "string", "maxLength": 200}}


@operation("GET", "/openapi.json", "This document", op_id="getOpenApi", response=r.OpenApiDocument, public=True)
def openapi(user, _):
    return document()


@operation("GET", "/me", "The person holding the token", op_id="getMe", response=r.Me)
def me(user, _):
    return {"id": user.id, "email": user.email, "name": user.name, "roles": user.roles}


@operation("GET", "/review-checklist", "What an approval attests, item by item", op_id="getReviewChecklist",
           response=r.ReviewChecklist, public=True)
def review_checklist(user, _):
    return {"items": reviews.review_checklist()}


@operation("POST", "/articles", "Start an article (writers)", op_id="createArticle", response=r.Article,
           body=s.ArticleCreate, links=ON_ARTICLE, status=201, errors=(403,))
def create_article(user, body):
    article = articles.create_article(user, body.title, body.body, body.topic or "")
    db.session.flush()
    return out.article_json(article)


def _visible(user, article_id):
    article = articles.get_article(article_id)
    policy.authorize(user, "article.view", article)
    return article


@operation("GET", "/articles/{id}", "An article with its current revision", op_id="getArticle", response=r.Article,
           errors=(403, 404))
def get_article(user, _, id):
    return out.article_json(_visible(user, id))


@operation("POST", "/articles/{id}/revisions", "Save a new revision (its writer)", op_id="saveRevision",
           response=r.Article, body=s.RevisionCreate,
           status=201, errors=(403, 404, 409))
def save_revision(user, body, id):
    article = articles.get_article(id)
    articles.save_revision(user, article, body.title, body.body, body.base_revision, body.note or "")
    db.session.flush()
    db.session.refresh(article)
    return out.article_json(article)


@operation("POST", "/articles/{id}/submit", "Submit for review (its writer)", op_id="submitArticle",
           response=r.Article, body=s.Empty, errors=(403, 404, 409))
def submit(user, _, id):
    article = articles.get_article(id)
    articles.submit_article(user, article)
    return out.article_json(article)


@operation("POST", "/articles/{id}/assignments", "Assign a reviewer (editors)", op_id="assignReviewer",
           response=r.Assignment, body=s.AssignmentCreate,
           links={"withdrawAssignment": {"id": "$request.path.id", "assignment_id": "$response.body#/id"}},
           status=201, errors=(403, 404, 409))
def assign(user, body, id):
    article = articles.get_article(id)
    return out.assignment_json(reviews.assign_reviewer(user, article, body.reviewer_id, body.due_date))


@operation("DELETE", "/articles/{id}/assignments/{assignment_id}", "Withdraw a reviewer (editors)",
           op_id="withdrawAssignment", response=r.Assignment, errors=(403, 404, 409))
def withdraw(user, _, id, assignment_id):
    article = articles.get_article(id)
    assignment = reviews.get_assignment(article, assignment_id)
    return out.assignment_json(reviews.withdraw_assignment(user, article, assignment))


@operation("GET", "/articles/{id}/annotations", "Annotations of an article", op_id="listAnnotations",
           response=list[r.Annotation], errors=(403, 404))
def list_annotations(user, _, id):
    return [out.annotation_json(a) for a in reviews.annotations_of(_visible(user, id))]


@operation("POST", "/articles/{id}/annotations", "Annotate quoted text (assigned reviewers)", op_id="annotate",
           response=r.Annotation, body=s.AnnotationCreate, links=ON_ANNOTATION, status=201, errors=(403, 404))
def annotate(user, body, id):
    article = articles.get_article(id)
    ann = reviews.add_annotation(user, article, body.revision, body.quote, body.comment, body.blocking,
                                 body.prefix or "", body.suffix or "")
    return out.annotation_json(ann)


@operation("POST", "/annotations/{id}/replies", "Reply to an annotation (staff)", op_id="replyToAnnotation",
           response=r.Reply, body=s.ReplyCreate, status=201,
           errors=(403, 404))
def reply(user, body, id):
    return out.reply_json(reviews.reply_to_annotation(user, reviews.get_annotation(id), body.comment))


@operation("POST", "/annotations/{id}/resolve", "Resolve an annotation", op_id="resolveAnnotation",
           response=r.Annotation, body=s.Empty, errors=(403, 404, 409))
def resolve(user, _, id):
    return out.annotation_json(reviews.set_annotation_status(user, reviews.get_annotation(id), "resolved"))


@operation("POST", "/annotations/{id}/reopen", "Reopen an annotation", op_id="reopenAnnotation",
           response=r.Annotation, body=s.Empty, errors=(403, 404, 409))
def reopen(user, _, id):
    return out.annotation_json(reviews.set_annotation_status(user, reviews.get_annotation(id), "open"))


@operation("POST", "/articles/{id}/decisions", "Sign a decision (assigned reviewers)", op_id="signDecision",
           response=r.Decision, body=s.DecisionCreate,
           status=201, errors=(403, 404, 409, 429))
def decide(user, body, id):
    article = articles.get_article(id)
    signed = reviews.sign_decision(user, article, body.revision, body.decision, body.password, body.comment,
                                   body.checklist, code=body.code)
    return out.decision_json(signed)


@operation("POST", "/articles/{id}/source-checks", "Give a verdict on a cited source (assigned reviewers)",
           op_id="createSourceCheck", response=r.SourceCheck, body=s.SourceCheckCreate, status=201,
           errors=(403, 404, 409))
def check_source(user, body, id):
    article = articles.get_article(id)
    return out.source_check_json(sources.check_source(user, article, body.revision, body.key, body.verdict,
                                                      body.comment))


@operation("GET", "/articles/{id}/source-checks", "The verdicts that stand on the current revision's sources (staff)",
           op_id="listSourceChecks", response=list[r.SourceCheck], errors=(403, 404))
def list_source_checks(user, _, id):
    return [out.source_check_json(c) for c in sources.standing_checks(_visible(user, id))]


@operation("POST", "/articles/{id}/source-flags", "Flag a live source as outdated (editors, assigned reviewers)",
           op_id="flagSource", response=r.SourceCheck, body=s.SourceFlagCreate, status=201, errors=(403, 404, 409))
def flag_source(user, body, id):
    article = articles.get_article(id)
    return out.source_check_json(sources.flag_source(user, article, body.key, body.comment))


@operation("POST", "/articles/{id}/publish", "Publish an approved revision (editors)", op_id="publishRevision",
           response=r.PublishedVersion, body=s.PublishCreate,
           status=201, errors=(403, 404, 409))
def publish(user, body, id):
    article = articles.get_article(id)
    version = publishing.publish_revision(user, article, body.revision, body.change_note)
    url = public_url.public_url_for("public.article", slug=article.slug)
    return out.version_json(version, url)


@operation("POST", "/articles/{id}/unpublish", "Unpublish (editors)", op_id="unpublishArticle", response=r.Article,
           body=s.UnpublishCreate,
           errors=(403, 404, 409))
def unpublish(user, body, id):
    article = articles.get_article(id)
    publishing.unpublish_article(user, article, body.reason)
    return out.article_json(article)


@operation("GET", "/articles/{id}/audit", "Audit events of an article, oldest first (staff)",
           op_id="listArticleAudit", response=list[r.AuditEvent],
           errors=(403, 404))
def article_audit(user, _, id):
    article = articles.get_article(id)
    policy.authorize(user, "audit.view_article", article)
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.article_id == article.id)
                                .order_by(AuditEvent.seq))
    return [out.event_json(e) for e in events]


@operation("GET", "/published/{slug}", "The latest published version (public)", op_id="getPublished",
           response=r.Published, public=True, errors=(404, 410),
           params=SLUG)
def published(user, _, slug):
    pa = public_queries.public_article(slug)
    if pa.gone:
        raise Gone(f"This article was unpublished: {pa.article.unpublish_reason}")
    return out.published_json(pa)
