"""Audit events, the chain head, and the record of verification runs."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DDL, Boolean, Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from reviewflow.extensions import UTCDateTime, db, utcnow

GENESIS = "0" * 64


class AuditEvent(db.Model):
    """One thing that happened. Append-only: the database refuses UPDATE and DELETE.

    ``hash`` is HMAC-SHA256(key ``key_id``, ``prev_hash`` + canonical encoding of the event).
    Copies of names and labels are kept so the record survives later renames.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_article_seq", "article_id", "seq"),
        Index("ix_audit_events_actor_seq", "actor_id", "seq"),
        Index("ix_audit_events_action_seq", "action", "seq"),
        Index("ix_audit_events_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Position in the chain: 1, 2, 3… without gaps.
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    #: The role the actor acted in ("system" for commands).
    actor_role: Mapped[str] = mapped_column(String(32), default="")
    #: Dotted verb, e.g. "article.submitted", "decision.signed".
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[int | None] = mapped_column(Integer)
    target_label: Mapped[str] = mapped_column(String(300), default="")
    article_id: Mapped[int | None] = mapped_column(Integer)
    revision_number: Mapped[int | None] = mapped_column(Integer)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    before_state: Mapped[str | None] = mapped_column(String(32))
    after_state: Mapped[str | None] = mapped_column(String(32))
    #: Canonical JSON (sorted keys); never holds a password or token.
    details: Mapped[str] = mapped_column(Text, default="{}")
    request_id: Mapped[str] = mapped_column(String(64), default="")
    key_id: Mapped[str] = mapped_column(String(16))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(db.Model):
    """The single row holding the chain's last sequence number and hash.

    Appending locks this row first (UPDATE … RETURNING), which serialises appends
    on PostgreSQL (row lock) and on SQLite (the write lock), so the chain never forks.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS)
    #: HMAC (audit key) over ``seq`` and ``hash``: a head rewritten without the key is caught.
    mac: Mapped[str] = mapped_column(String(64), default="", server_default="")


class AuditVerification(db.Model):
    """The outcome of one run of ``audit verify``, shown on the staff pages."""

    __tablename__ = "audit_verifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean)
    events: Mapped[int] = mapped_column(Integer)
    first_bad_seq: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text, default="")


# The guards below are also written in the Alembic migration; these listeners attach
# them when tests build the schema with create_all.
SQLITE_GUARDS = [
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
]
POSTGRES_GUARDS = [
    "CREATE OR REPLACE FUNCTION audit_events_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$",
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_refuse()",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse()",
]
# The record of verification runs is append-only too: a failed run cannot be quietly erased.
VERIFICATION_SQLITE_GUARDS = [
    "CREATE TRIGGER audit_verifications_no_update BEFORE UPDATE ON audit_verifications "
    "BEGIN SELECT RAISE(ABORT, 'audit verifications are append-only'); END",
    "CREATE TRIGGER audit_verifications_no_delete BEFORE DELETE ON audit_verifications "
    "BEGIN SELECT RAISE(ABORT, 'audit verifications are append-only'); END",
]
VERIFICATION_POSTGRES_GUARDS = [
    "CREATE OR REPLACE FUNCTION audit_verifications_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit verifications are append-only'; END $$",
    "CREATE TRIGGER audit_verifications_no_update BEFORE UPDATE OR DELETE ON audit_verifications "
    "FOR EACH ROW EXECUTE FUNCTION audit_verifications_refuse()",
    "CREATE TRIGGER audit_verifications_no_truncate BEFORE TRUNCATE ON audit_verifications "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_verifications_refuse()",
]
HEAD_ROW = f"INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{GENESIS}')"

for _sql in SQLITE_GUARDS:
    event.listen(AuditEvent.__table__, "after_create", DDL(_sql).execute_if(dialect="sqlite"))
for _sql in POSTGRES_GUARDS:
    event.listen(AuditEvent.__table__, "after_create", DDL(_sql).execute_if(dialect="postgresql"))
for _sql in VERIFICATION_SQLITE_GUARDS:
    event.listen(AuditVerification.__table__, "after_create", DDL(_sql).execute_if(dialect="sqlite"))
for _sql in VERIFICATION_POSTGRES_GUARDS:
    event.listen(AuditVerification.__table__, "after_create", DDL(_sql).execute_if(dialect="postgresql"))
event.listen(AuditHead.__table__, "after_create", DDL(HEAD_ROW))
