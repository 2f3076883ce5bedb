"""Turning models into the JSON shapes PRODUCT.md fixes."""
from __future__ import annotations

import json

from reviewflow.articles import workflow
from reviewflow.extensions import iso
from reviewflow.publishing import services as publishing
from reviewflow.sources.status import revision_sources


def person(user) -> dict:
    return {"id": user.id, "name": user.name}


def article_json(article) -> dict:
    rev = article.revision
    live = publishing.live_version_of(article)
    return {
        "id": article.id, "slug": article.slug, "title": article.title, "topic": article.topic,
        "state": article.state, "writer": person(article.writer),
        "revision": {"number": rev.number, "content_hash": rev.content_hash, "title": rev.title, "body": rev.body,
                     "note": rev.note, "created_at": iso(rev.created_at),
                     "sources": [source_json(x) for x in revision_sources(rev.id)]},
        "assignments": [{"id": a.id, "reviewer": person(a.reviewer), "status": a.status,
                         "due_date": a.due_date.isoformat() if a.due_date else None}
                        for a in workflow.active_assignments(article)],
        "published_version": None if live is None else {
            "version": live.version, "revision": live.revision_number, "published_at": iso(live.published_at)},
    }


def source_json(x) -> dict:
    return {"key": x.key, "text": x.text, "url": x.url, "doi": x.doi}


def source_check_json(c) -> dict:
    return {"id": c.id, "key": c.key, "verdict": c.verdict, "revision": c.revision_number, "comment": c.comment,
            "kind": c.kind, "checked_by": {"id": c.checker_id, "name": c.checker_name},
            "checked_at": iso(c.checked_at)}


def published_sources_json(v) -> list[dict]:
    return [{"key": x["key"], "text": x["text"], "url": x["url"], "doi": x.get("doi"),
             "checked_by": x["checked_by"], "checked_at": x["checked_at"] and iso_text(x["checked_at"])}
            for x in json.loads(v.sources_json or "[]")]


def iso_text(value: str) -> str:
    return value.replace("+00:00", "Z")


def assignment_json(a) -> dict:
    return {"id": a.id, "reviewer": person(a.reviewer), "status": a.status,
            "due_date": a.due_date.isoformat() if a.due_date else None}


def reply_json(r) -> dict:
    return {"id": r.id, "annotation_id": r.annotation_id, "author": person(r.author), "comment": r.comment,
            "created_at": iso(r.created_at)}


def annotation_json(a) -> dict:
    return {"id": a.id, "status": a.status, "revision": a.revision_number, "anchored_revision": a.anchored_revision,
            "quote": a.quote, "prefix": a.prefix, "suffix": a.suffix, "position": a.position, "comment": a.comment,
            "blocking": a.blocking, "orphaned": a.orphaned, "author": person(a.author),
            "created_at": iso(a.created_at), "resolved_at": iso(a.resolved_at),
            "replies": [reply_json(r) for r in a.replies]}


def decision_json(d) -> dict:
    return {"id": d.id, "decision": d.decision, "revision": d.revision_number, "content_hash": d.content_hash,
            "signed_at": iso(d.signed_at), "meaning": d.meaning, "comment": d.comment,
            "checklist": json.loads(d.checklist or "[]"),
            "signer": {"id": d.reviewer_id, "name": d.printed_name, "credentials": d.credentials,
                       "specialty": d.specialty, "license_number": d.license_number}}


def review_json(r) -> dict:
    return {"name": r.name, "credentials": r.credentials, "specialty": r.specialty, "reviewed_at": iso(r.reviewed_at)}


def version_json(v, url: str | None = None) -> dict:
    data = {"version": v.version, "revision": v.revision_number, "published_at": iso(v.published_at),
            "content_hash": v.content_hash, "reviewed_by": [review_json(r) for r in v.reviews]}
    if url:
        data["url"] = url
    return data


def published_json(pa) -> dict:
    v = pa.version
    return {
        "title": v.title, "slug": v.slug, "topic": v.topic, "version": v.version, "revision": v.revision_number,
        "content_hash": v.content_hash, "body_html": v.body_html, "written_by": v.writer_name,
        "reviewed_by": [review_json(r) for r in v.reviews],
        "first_published_at": iso(pa.first_published_at), "published_at": iso(v.published_at),
        "last_reviewed": iso(v.last_reviewed_at),
        "versions": [{"version": x.version, "revision": x.revision_number, "published_at": iso(x.published_at),
                      "written_by": x.writer_name, "reviewed_by": [review_json(r) for r in x.reviews],
                      "change_note": x.change_note, "kind": x.kind} for x in pa.versions],
        "sources": published_sources_json(v),
    }


def event_json(e) -> dict:
    return {"seq": e.seq, "occurred_at": iso(e.occurred_at),
            "actor": {"id": e.actor_id, "name": e.actor_name, "role": e.actor_role}, "action": e.action,
            "target": {"type": e.target_type, "id": e.target_id, "label": e.target_label},
            "article_id": e.article_id, "revision": e.revision_number, "content_hash": e.content_hash,
            "before_state": e.before_state, "after_state": e.after_state, "details": json.loads(e.details or "{}"),
            "request_id": e.request_id, "prev_hash": e.prev_hash, "hash": e.hash}
