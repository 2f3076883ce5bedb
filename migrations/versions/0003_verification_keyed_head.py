"""verified credentials, a keyed chain head, append-only verification runs, mail set aside

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 23:55:00

A reviewer profile version records how an admin verified it. The audit head carries an HMAC of
its sequence number and hash under the audit key, so a shortened chain with a rewritten head is
caught. The record of verification runs refuses UPDATE and DELETE like the events. An e-mail that
``send-mail`` cannot send is set aside with its reason instead of stopping the rest.
The SQL is written out here rather than imported, so this migration never changes with the models.
"""
import hashlib
import hmac

import sqlalchemy as sa
from alembic import op
from flask import current_app

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

SQLITE_GUARDS = [
    "CREATE TRIGGER audit_verifications_no_update BEFORE UPDATE ON audit_verifications "
    "BEGIN SELECT RAISE(ABORT, 'audit verifications are append-only'); END",
    "CREATE TRIGGER audit_verifications_no_delete BEFORE DELETE ON audit_verifications "
    "BEGIN SELECT RAISE(ABORT, 'audit verifications are append-only'); END",
]
POSTGRES_GUARDS = [
    "CREATE OR REPLACE FUNCTION audit_verifications_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit verifications are append-only'; END $$",
    "CREATE TRIGGER audit_verifications_no_update BEFORE UPDATE OR DELETE ON audit_verifications "
    "FOR EACH ROW EXECUTE FUNCTION audit_verifications_refuse()",
    "CREATE TRIGGER audit_verifications_no_truncate BEFORE TRUNCATE ON audit_verifications "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_verifications_refuse()",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS audit_verifications_no_update",
               "DROP TRIGGER IF EXISTS audit_verifications_no_delete"]
POSTGRES_DROP = ["DROP TRIGGER IF EXISTS audit_verifications_no_update ON audit_verifications",
                 "DROP TRIGGER IF EXISTS audit_verifications_no_truncate ON audit_verifications",
                 "DROP FUNCTION IF EXISTS audit_verifications_refuse()"]


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    with op.batch_alter_table('reviewer_profiles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verification_method', sa.Text(), server_default='', nullable=False))
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mac', sa.String(length=64), server_default='', nullable=False))
    with op.batch_alter_table('outbox_emails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('set_aside_at', sa.DateTime(timezone=True),
                                      nullable=True))
    for statement in POSTGRES_GUARDS if _postgres() else SQLITE_GUARDS:
        op.execute(statement)
    _seal_head()


def _seal_head() -> None:
    """Key the head of a chain that already holds events, with the key of its last event, so that
    ``audit verify`` holds after the upgrade. This trusts the chain as it stands at the upgrade:
    run ``audit verify`` before upgrading (the runbook in the README says so)."""
    bind = op.get_bind()
    seq, hash_ = bind.execute(sa.text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
    if not seq:
        return
    key_id = bind.execute(sa.text("SELECT key_id FROM audit_events WHERE seq = :s"), {"s": seq}).scalar()
    key = _keys().get(key_id)
    if key is not None:
        mac = hmac.digest(key, f"reviewflow audit head\n{seq}\n{hash_}".encode(), "sha256").hex()
        bind.execute(sa.text("UPDATE audit_head SET mac = :mac WHERE id = 1"), {"mac": mac})


def _keys() -> dict[str, bytes]:
    """Every audit key of the app's configuration (``AUDIT_KEY`` and ``AUDIT_OLD_KEYS``, ``id:key,…``) by its
    id, the first 12 hex digits of its SHA-256: ``audit.services.keyring`` and ``head_mac`` as they were at this
    revision, written out so that this migration never changes with them."""
    config = current_app.config
    keys = [config["AUDIT_KEY"]] + [item.split(":", 1)[-1].strip()
                                    for item in (config.get("AUDIT_OLD_KEYS") or "").split(",") if item.strip()]
    return {hashlib.sha256(key.encode()).hexdigest()[:12]: key.encode() for key in keys}


def downgrade():
    for statement in POSTGRES_DROP if _postgres() else SQLITE_DROP:
        op.execute(statement)
    with op.batch_alter_table('outbox_emails', schema=None) as batch_op:
        batch_op.drop_column('set_aside_at')
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.drop_column('mac')
    with op.batch_alter_table('reviewer_profiles', schema=None) as batch_op:
        batch_op.drop_column('verification_method')
