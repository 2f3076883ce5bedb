"""Where each source of a revision stands: supported, blocked or unchecked (PRODUCT.md).

A verdict is given on a revision and follows the source into later revisions while its
footnote text is unchanged (same key, same ``text_hash``). Of the checks standing on a
source, each checker's latest counts:

- a source is **blocked** while some checker's latest verdict is not ``supports``, unless that
  checker no longer has an active assignment and an actively assigned reviewer gave a verdict
  after it (like a blocking annotation, which another assigned reviewer may resolve once its
  author is withdrawn; an editor's flag on a live source is answered this way);
- else **supported** when an actively assigned reviewer's latest verdict is ``supports``;
- else **unchecked**.

A revision is approved only when every source it cites is supported. This module only reads;
``sources.services`` writes checks through the workflow.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from reviewflow.articles.models import Article, Revision
from reviewflow.extensions import db
from reviewflow.reviews.models import ReviewAssignment
from reviewflow.sources.models import RevisionSource, SourceCheck, Verdict

SUPPORTED, BLOCKED, UNCHECKED = "supported", "blocked", "unchecked"


@dataclass
class SourceState:
    """One source of a revision with the checks that stand on it."""

    source: RevisionSource
    status: str = UNCHECKED
    #: The supporting check readers are shown ("Checked by …"), when supported.
    supported_by: SourceCheck | None = None
    #: The negative verdicts that block, oldest first.
    blocking: list[SourceCheck] = field(default_factory=list)
    #: Every checker's latest verdict, oldest first.
    latest: list[SourceCheck] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.source.key


def revision_sources(revision_id: int) -> list[RevisionSource]:
    return list(db.session.scalars(
        select(RevisionSource).where(RevisionSource.revision_id == revision_id).order_by(RevisionSource.position)))


def _revision(article: Article, number: int | None) -> Revision | None:
    number = number or article.current_revision
    return db.session.scalar(select(Revision).where(Revision.article_id == article.id, Revision.number == number))


def _active_reviewers(article: Article) -> set[int]:
    return set(db.session.scalars(select(ReviewAssignment.reviewer_id).where(
        ReviewAssignment.article_id == article.id, ReviewAssignment.status != "withdrawn")))


def source_states(article: Article, revision_number: int | None = None,
                  active: set[int] | None = None) -> list[SourceState]:
    """Every source of the revision (the current one by default), in citation order, with its status.
    ``active``: the ids of actively assigned reviewers, when the caller already knows them."""
    revision = _revision(article, revision_number)
    if revision is None:
        return []
    sources = revision_sources(revision.id)
    if not sources:
        return []
    active = _active_reviewers(article) if active is None else active
    checks = list(db.session.scalars(select(SourceCheck).where(
        SourceCheck.article_id == article.id, SourceCheck.key.in_([s.key for s in sources])
    ).order_by(SourceCheck.id)))
    return [_state(source, [c for c in checks if c.key == source.key and c.text_hash == source.text_hash], active)
            for source in sources]


def _state(source: RevisionSource, checks: list[SourceCheck], active: set[int]) -> SourceState:
    latest: dict[int, SourceCheck] = {}
    for check in checks:  # oldest first: the last one of each checker stays
        latest[check.checker_id] = check
    state = SourceState(source, latest=sorted(latest.values(), key=lambda c: c.id))
    for check in state.latest:
        if check.verdict == Verdict.SUPPORTS:
            continue
        answered = check.checker_id not in active and any(
            other.id > check.id and other.checker_id in active for other in state.latest)
        if not answered:
            state.blocking.append(check)
    supporting = [c for c in state.latest if c.verdict == Verdict.SUPPORTS and c.checker_id in active]
    if state.blocking:
        state.status = BLOCKED
    elif supporting:
        state.status, state.supported_by = SUPPORTED, supporting[-1]
    return state


def unsupported(article: Article, active: set[int] | None = None) -> list[SourceState]:
    """The sources of the current revision that do not (yet) have a standing ``supports``."""
    return [s for s in source_states(article, active=active) if s.status != SUPPORTED]
