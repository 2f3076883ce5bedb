"""``seed-demo``: original demo people and articles in every state, created through the services.

Everything goes through the same services as the pages and the API, so the demo data
has a real audit trail, real signatures and real published versions. Idempotent:
people (by email) and articles (by title) that exist are left alone.
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from reviewflow.articles import services as articles
from reviewflow.articles.models import Article
from reviewflow.auth import services as accounts
from reviewflow.auth.models import User
from reviewflow.demo_content import ARTICLES, PEOPLE, SOURCE_FLAGS, SOURCE_UPDATES, SOURCE_VERDICTS, SOURCES
from reviewflow.extensions import db, utcnow
from reviewflow.publishing import services as publishing
from reviewflow.reviews import services as reviews
from reviewflow.sources import services as sources
from reviewflow.sources import status as source_status

PROFILE_KEYS = ("credentials", "specialty", "license_number", "license_jurisdiction", "license_expires",
                "affiliation", "organization")


def seed_people() -> int:
    created = 0
    for p in PEOPLE:
        if db.session.scalar(select(User).where(User.email == p["email"])):
            continue
        profile = ({k: p[k] for k in PROFILE_KEYS if k in p} | {"bio": p.get("bio", "")}
                   if "reviewer" in p["roles"] else None)
        accounts.create_user(None, p["email"], p["name"], p["password"], p["roles"], bio=p.get("bio", ""),
                             profile=profile)
        created += 1
    db.session.commit()
    _verify_reviewers()
    return created


VERIFICATION = "Licence looked up in the issuing board's public register; board certification confirmed by phone."


def _verify_reviewers() -> None:
    """The demo admin verifies every demo reviewer's credentials, as a publisher's credentials desk would."""
    admin = _person(next(p["email"] for p in PEOPLE if "admin" in p["roles"]))
    for p in PEOPLE:
        reviewer = _person(p["email"]) if "reviewer" in p["roles"] else None
        if reviewer is not None and reviewer.profile is not None and not reviewer.profile.is_verified:
            accounts.verify_profile(admin, reviewer, p.get("verification", VERIFICATION))
    db.session.commit()


def _person(email: str | None) -> User | None:
    return db.session.scalar(select(User).where(User.email == email)) if email else None


def _password(user: User) -> str:
    return next(p["password"] for p in PEOPLE if p["email"] == user.email)


def _sign(reviewer: User, article: Article, decision: str, comment: str = "") -> None:
    checklist = reviews.review_checklist() if decision == "approve" else []
    reviews.sign_decision(reviewer, article, article.current_revision, decision, _password(reviewer),
                          comment=comment, checklist=checklist)


def _cited(spec: dict, number: int, body: str) -> str:
    """Revision ``number`` (1-based) of a demo article with its sources cited: source i at the end of the
    i-th paragraph of prose, the definitions at the end (``demo_content.SOURCES``)."""
    cited = SOURCES.get(spec["key"], [])
    if not cited:
        return body
    texts = dict(cited)
    for since, changes in sorted(SOURCE_UPDATES.get(spec["key"], {}).items()):
        if number >= since:
            texts.update(changes)
    lines = body.rstrip("\n").split("\n")
    prose = [i for i, line in enumerate(lines) if line.strip() and not line.startswith(("#", "-", "*", "|"))
             and not line[:1].isdigit() and not line.rstrip().endswith(":")]
    for (key, _), i in zip(cited, prose, strict=False):
        lines[i] = lines[i].rstrip() + f"[^{key}]"
    return "\n".join(lines) + "\n\n" + "\n".join(f"[^{key}]: {texts[key]}" for key, _ in cited) + "\n"


def _check_sources(reviewer: User, article: Article, spec: dict, only_given: bool = False) -> None:
    """The reviewer's verdicts: those of ``SOURCE_VERDICTS``, then ``supports`` on every source still waiting
    (unless ``only_given``), as approval needs."""
    for key, verdict, comment in SOURCE_VERDICTS.get(spec["key"], []):
        sources.check_source(reviewer, article, article.current_revision, key, verdict, comment)
    if only_given:
        return
    for state in source_status.unsupported(article):
        sources.check_source(reviewer, article, article.current_revision, state.key, "supports")


def seed_article(spec: dict, editor: User) -> None:
    """Walk one demo article through the real workflow to its target state."""
    writer, reviewer, target = _person(spec["writer"]), _person(spec.get("reviewer")), spec["target_state"]
    revisions = spec["revisions"]
    live_at = spec.get("published_revision") or len(revisions)
    revisions = [{**r, "body": _cited(spec, n, r["body"])} for n, r in enumerate(revisions, 1)]
    article = articles.create_article(writer, spec["title"], revisions[0]["body"], spec["topic"],
                                      revisions[0].get("note", ""))
    if reviewer is None:  # draft or submitted, no reviewer available
        for rev in revisions[1:]:
            articles.save_revision(writer, article, spec["title"], rev["body"], article.current_revision, rev["note"])
        if target == "submitted":
            articles.submit_article(writer, article)
        return
    articles.submit_article(writer, article)
    reviews.assign_reviewer(editor, article, reviewer.id, utcnow().date() + timedelta(days=7))
    notes = []
    for a in spec["annotations"]:
        ann = reviews.add_annotation(reviewer, article, 1, a["quote"], a["comment"], a["blocking"])
        notes.append((ann, a))
    if target in ("changes_requested", "in_review"):
        _check_sources(reviewer, article, spec, only_given=True)
    if any(a["blocking"] for _, a in notes) or target == "changes_requested":
        _sign(reviewer, article, "request_changes",
              spec.get("request_changes_comment") or "Please address the blocking annotations before approval.")
    for ann, a in notes:
        if a.get("reply"):
            reviews.reply_to_annotation(writer, ann, a["reply"])
    if target == "changes_requested":
        for ann, a in notes:
            if a["resolved"] and not a["blocking"]:
                reviews.set_annotation_status(writer, ann, "resolved")
        return
    for rev in revisions[1:live_at]:
        articles.save_revision(writer, article, spec["title"], rev["body"], article.current_revision, rev["note"])
    for ann, a in notes:
        if a["resolved"]:  # a blocking annotation is resolved by its reviewer, a suggestion by the writer
            reviews.set_annotation_status(reviewer if a["blocking"] else writer, ann, "resolved")
    if article.state in ("draft", "changes_requested"):
        articles.submit_article(writer, article)
    if target == "in_review":
        return
    _check_sources(reviewer, article, spec)
    _sign(reviewer, article, "approve")
    if target == "approved":
        return
    notes_public = spec.get("change_notes") or ["First published."]
    publishing.publish_revision(editor, article, article.current_revision, notes_public[0])
    if target == "published_updating":
        for rev in revisions[live_at:]:
            articles.save_revision(writer, article, spec["title"], rev["body"], article.current_revision, rev["note"])
        articles.submit_article(writer, article)
    elif target == "published_rereviewed":
        reviews.assign_reviewer(editor, article, reviewer.id, utcnow().date() + timedelta(days=14))
        _sign(reviewer, article, "approve")
    elif target == "unpublished":
        publishing.unpublish_article(editor, article, spec.get("unpublish_reason") or "Withdrawn for revision.")
    for key, comment in SOURCE_FLAGS.get(spec["key"], []):
        sources.flag_source(editor, article, key, comment)


def seed() -> int:
    """Create what is missing; returns how many people and articles were added."""
    created = seed_people()
    editor = _person(next(p["email"] for p in PEOPLE if "editor" in p["roles"]))
    for spec in ARTICLES:
        if db.session.scalar(select(Article.id).where(Article.title == spec["title"])):
            continue
        seed_article(spec, editor)
        db.session.commit()
        created += 1
    return created


def demo_logins() -> list[dict]:
    """The demo accounts present in this database, with their password, for the log-in page; none in
    production."""
    if current_app.config.get("NAME") == "production":
        return []
    emails = [p["email"] for p in PEOPLE]
    present = set(db.session.scalars(select(User.email).where(User.email.in_(emails))))
    return [{"email": p["email"], "role": ", ".join(p["roles"]), "password": p["password"], "name": p["name"]}
            for p in PEOPLE if p["email"] in present]
