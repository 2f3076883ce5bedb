"""Storing a revision's sources, checking them and flagging live ones (PRODUCT.md, "Sources").

Every function takes the actor, goes through ``workflow`` (404, 403, 409, then the guard),
flushes and never commits. A verdict is one ``SourceCheck`` and one audit event.
"""
from __future__ import annotations

import json

from sqlalchemy import func, select

from reviewflow import policy
from reviewflow.articles import workflow
from reviewflow.articles.models import Article, Revision
from reviewflow.errors import InvalidInput, NotFound
from reviewflow.extensions import db
from reviewflow.ids import as_id
from reviewflow.notifications.services import notify, notify_role
from reviewflow.sources import status
from reviewflow.sources.models import VERDICT_VALUES, RevisionSource, SourceCheck, Verdict
from reviewflow.sources.parsing import sources_of
from reviewflow.textrules import multi_line

COMMENT_MAX = 5000


def store_sources(rev: Revision) -> list[RevisionSource]:
    """Store the sources ``rev`` cites (called as the revision is saved; revisions are immutable)."""
    rows = [RevisionSource(revision_id=rev.id, **source) for source in sources_of(rev.body)]
    db.session.add_all(rows)
    return rows


def changes_between(before: list[RevisionSource] | list[dict], after: list[RevisionSource] | list[dict]) -> dict:
    """Which source keys were added, changed (new footnote text) or removed from one text to the next."""
    def index(items):
        return {(i["key"] if isinstance(i, dict) else i.key): (i["text_hash"] if isinstance(i, dict) else i.text_hash)
                for i in items}
    old, new = index(before), index(after)
    return {"added": [k for k in new if k not in old], "changed": [k for k in new if k in old and old[k] != new[k]],
            "removed": [k for k in old if k not in new]}


def revision_of(article: Article, number) -> Revision:
    if isinstance(number, bool) or not isinstance(number, int | str):
        raise InvalidInput("revision must be a revision number.", field="revision")
    try:
        number = int(number)
    except ValueError:
        raise InvalidInput("revision must be a revision number.", field="revision") from None
    rev = db.session.scalar(select(Revision).where(Revision.article_id == article.id, Revision.number == number)) \
        if as_id(number) is not None else None
    if rev is None:
        raise NotFound(f"Revision {number} of this article does not exist.")
    return rev


def _verdict(value) -> Verdict:
    if value not in VERDICT_VALUES:
        raise InvalidInput("verdict must be one of: " + ", ".join(VERDICT_VALUES) + ".", field="verdict")
    return Verdict(value)


def _comment(verdict: Verdict, comment) -> str:
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise InvalidInput("comment must be text.", field="comment")
    required = verdict != Verdict.SUPPORTS
    comment = multi_line(comment, "comment", COMMENT_MAX, required=required)
    return comment


def _source(rev: Revision, key) -> RevisionSource:
    if not isinstance(key, str) or not key:
        raise InvalidInput("key must be the key of a footnote the revision cites.", field="key")
    found = db.session.scalar(select(RevisionSource).where(RevisionSource.revision_id == rev.id,
                                                           RevisionSource.key == key))
    if found is None:
        raise InvalidInput(f"Revision {rev.number} cites no source [^{key[:100]}].", field="key")
    return found


def check_source(actor, article: Article, revision_number, key, verdict, comment=None) -> SourceCheck:
    """An assigned reviewer's verdict on one source of the current revision.

    Refusals, in order: 404 (cannot see the article), 403 (not an assigned reviewer), 409 (not in
    review; stale_revision when ``revision`` is not the current one), 400 (no such source in that
    revision, unknown verdict, no comment for a verdict other than ``supports``). A negative verdict
    blocks approval until its checker changes it or a new revision changes or drops the source.
    """
    rev = revision_of(article, revision_number)
    workflow.check(article, "check_source", actor, revision=rev)
    source = _source(rev, key)
    verdict = _verdict(verdict)
    comment = _comment(verdict, comment)
    check = _record(actor, article, rev, source, verdict, comment, "check")
    workflow.apply(article, "check_source", actor=actor, role="reviewer", revision=rev, target=check,
                   details=_details(check, source))
    if verdict != Verdict.SUPPORTS:
        notify(article.writer, f"{actor.display_name} found a problem with source [^{key}] of “{article.title}”: "
               f"{verdict.label.lower()}.", f"/work/articles/{article.id}/edit", article=article, kind="source",
               detail=comment)
    return check


def flag_source(actor, article: Article, key, comment) -> SourceCheck:
    """Flag a source of the live version as outdated (an editor, or an assigned reviewer), for example when
    a guideline is replaced. The article is then due for re-review, and the re-review asks for that
    source again: the flag blocks approval until an assigned reviewer gives a new verdict on it."""
    workflow.check(article, "flag_source", actor)
    rev = revision_of(article, workflow.REREVIEW_HOOKS["live_revision"](article))
    source = _source(rev, key)
    comment = _comment(Verdict.OUTDATED, comment)
    check = _record(actor, article, rev, source, Verdict.OUTDATED, comment, "flag")
    workflow.apply(article, "flag_source", actor=actor, role=policy.acting_role(actor, article), revision=rev,
                   target=check, details=_details(check, source))
    notify_role("editor", f"Source [^{key}] of “{article.title}” was flagged as outdated: the article is due for "
                "re-review.", f"/work/articles/{article.id}", exclude=actor, article=article, kind="source",
                detail=comment)
    return check


def _record(actor, article: Article, rev: Revision, source: RevisionSource, verdict: Verdict, comment: str,
            kind: str) -> SourceCheck:
    check = SourceCheck(article_id=article.id, revision_number=rev.number, key=source.key,
                        text_hash=source.text_hash, verdict=verdict.value, comment=comment, checker_id=actor.id,
                        checker_name=actor.name, kind=kind)
    db.session.add(check)
    db.session.flush()
    return check


def _details(check: SourceCheck, source: RevisionSource) -> dict:
    return {"key": check.key, "verdict": check.verdict, "comment": check.comment[:500],
            "source_text": source.text[:500], "source_hash": source.text_hash, "kind": check.kind}


def standing_checks(article: Article) -> list[SourceCheck]:
    """Each checker's latest verdict on each source of the current revision, in citation order."""
    return [check for state in status.source_states(article) for check in state.latest]


def published_snapshot(article: Article, revision_number: int) -> str:
    """The sources readers see for a version of ``revision_number``, as stored on it (JSON)."""
    out = []
    for state in status.source_states(article, revision_number):
        check, source = state.supported_by, state.source
        out.append({"key": source.key, "text": source.text, "url": source.url, "doi": source.doi,
                    "text_hash": source.text_hash,
                    "checked_by": check.checker_name if check else None,
                    "checked_by_id": check.checker_id if check else None,
                    "checked_at": check.checked_at.isoformat() if check else None})
    return json.dumps(out)


def verdicts_behind(article: Article, published: list[dict], until) -> list[tuple[dict, list[SourceCheck]]]:
    """For a published version's sources: every verdict given on each source's text up to ``until``."""
    if not published:
        return []
    checks = list(db.session.scalars(select(SourceCheck).where(
        SourceCheck.article_id == article.id, SourceCheck.key.in_([s["key"] for s in published]),
        SourceCheck.checked_at <= until).order_by(SourceCheck.id)))
    return [(s, [c for c in checks if c.key == s["key"] and c.text_hash == s.get("text_hash")]) for s in published]


def flagged_for_rereview(limit: int = 50) -> list[tuple[Article, list[SourceCheck]]]:
    """Published articles with a live source flagged as outdated and not yet answered, newest flag first,
    each with its standing flags: due for re-review, whatever their periodic date."""
    rows = db.session.execute(
        select(SourceCheck.article_id, func.max(SourceCheck.id).label("last"))
        .join(Article, Article.id == SourceCheck.article_id)
        .where(SourceCheck.kind == "flag", Article.state == "published")
        .group_by(SourceCheck.article_id).order_by(func.max(SourceCheck.id).desc()).limit(limit)).all()
    out = []
    for article_id, _ in rows:
        article = db.session.get(Article, article_id)
        live = workflow.REREVIEW_HOOKS["live_revision"](article)
        flags = [c for state in status.source_states(article, live) for c in state.blocking if c.kind == "flag"]
        if flags:
            out.append((article, flags))
    return out
