"""What tests/test_invariants.py's state machine stands on: a fresh database per example, one read of
everything the rules are checked against, and the audit events that void an approval."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass

from hypothesis import currently_in_test_context, event, note
from sqlalchemy import func, select, text

from reviewflow.articles.models import Article, Revision
from reviewflow.audit.models import AuditEvent
from reviewflow.extensions import db
from reviewflow.publishing.models import PublishedVersion
from reviewflow.reviews.models import Annotation, Decision, ReviewAssignment
from tests.factories import make_app


def record_event(text_: str) -> None:
    """Count an outcome for ``--hypothesis-show-statistics`` (and nothing in a replayed sequence)."""
    if currently_in_test_context():
        event(text_)


def record_note(text_: str) -> None:
    """Say who a rule picked, in the printed failing sequence."""
    if currently_in_test_context():
        note(text_)


def details_of(ev: AuditEvent) -> dict:
    """An event's details as a dict (empty when they are not a JSON object)."""
    try:
        value = json.loads(ev.details or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class Database:
    """One app and engine for the whole run (so SQLAlchemy's statement cache stays warm) and a fresh,
    empty database for each example: a new SQLite file, or PostgreSQL's public schema rebuilt."""

    app = None
    tmp = ""

    @classmethod
    def fresh(cls):
        """Push an app context on a new empty database and return the context."""
        if cls.app is None:
            # In memory-backed storage when there is some: an example commits a hundred times or so.
            shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
            cls.tmp = tempfile.mkdtemp(prefix="rf-invariants-", dir=shm)
            url = os.environ.get("REVIEWFLOW_TEST_DATABASE_URL") or f"sqlite:///{cls.tmp}/invariants.db"

            cls.app = make_app(url)
        ctx = cls.app.app_context()
        ctx.push()
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        else:  # the engine holds no connection (``close`` disposed of them): a new file is made on connecting
            for name in os.listdir(cls.tmp):
                os.remove(os.path.join(cls.tmp, name))
        db.create_all()
        return ctx

    @staticmethod
    def close(ctx) -> None:
        """End an example: drop the session, close every connection (so the next example's file or
        schema is new to the engine), pop the context."""
        db.session.remove()
        db.engine.dispose()
        ctx.pop()

    @classmethod
    def shut(cls) -> None:
        """End the run: dispose of the engine and remove the temporary folder."""
        if cls.app is not None:
            with cls.app.app_context():
                db.engine.dispose()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            cls.app = None


def voids(ev: AuditEvent, reviewer_id: int) -> bool:
    """Whether audit event ``ev`` voids an earlier approval by ``reviewer_id`` on its article: a new
    revision, a submission, the start of a re-review, or this reviewer's withdrawal, re-assignment or
    later decision."""
    details = details_of(ev)
    mine = details.get("reviewer_id") == reviewer_id
    return (ev.action in ("revision.saved", "article.submitted")
            or (ev.action == "reviewer.assigned" and (bool(details.get("rereview")) or mine))
            or (ev.action == "reviewer.withdrawn" and mine)
            or (ev.action == "decision.signed" and ev.actor_id == reviewer_id))


@dataclass
class Snapshot:
    """What the database holds after a step, read in a few queries."""

    articles: dict[int, Article]
    versions: dict[int, list[PublishedVersion]]
    decisions: dict[int, Decision]
    assignments: dict[int, list[ReviewAssignment]]
    events: dict[int, list[AuditEvent]]
    hashes: dict[tuple[int, int], str]
    open_blocking: dict[int, int]

    @classmethod
    def read(cls, article_ids: list[int]) -> Snapshot:
        """Everything the rules are checked against, fresh from the database, in seven queries."""
        def by_article(rows) -> dict[int, list]:
            out: dict[int, list] = {i: [] for i in article_ids}
            for row in rows:
                out.setdefault(row.article_id, []).append(row)
            return out

        return cls(
            articles={a.id: a for a in db.session.scalars(
                select(Article).execution_options(populate_existing=True))},
            versions=by_article(db.session.scalars(
                select(PublishedVersion).order_by(PublishedVersion.article_id, PublishedVersion.version))),
            decisions={d.id: d for d in db.session.scalars(select(Decision).order_by(Decision.id))},
            assignments=by_article(db.session.scalars(select(ReviewAssignment).order_by(ReviewAssignment.id))),
            events=by_article(db.session.scalars(
                select(AuditEvent).where(AuditEvent.article_id.is_not(None)).order_by(AuditEvent.seq))),
            hashes={(r.article_id, r.number): r.content_hash for r in db.session.execute(
                select(Revision.article_id, Revision.number, Revision.content_hash))},
            open_blocking=defaultdict(int, dict(db.session.execute(
                select(Annotation.article_id, func.count()).where(Annotation.status == "open",
                                                                  Annotation.blocking.is_(True))
                .group_by(Annotation.article_id)).all())),
        )
