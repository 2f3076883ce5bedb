"""sources and their checks, idempotent API retries, mail backoff

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 03:09:43

Each revision's cited footnotes are stored with it (revision_sources; revisions saved before
this upgrade get theirs parsed from their text here), reviewers' verdicts on them in
source_checks, and each published version keeps the sources its readers see. API POSTs sent
with an Idempotency-Key keep their first answer in idempotency_keys. An e-mail that could
not be sent waits until next_attempt_at before the next try.
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('body_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('response_body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_idempotency_keys_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('user_id', 'key', name=op.f('uq_idempotency_keys_user_id'))
    )
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_index('ix_idempotency_keys_created_at', ['created_at'], unique=False)

    op.create_table('source_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('revision_number', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('text_hash', sa.String(length=64), nullable=False),
    sa.Column('verdict', sa.String(length=20), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('checker_id', sa.Integer(), nullable=False),
    sa.Column('checker_name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('audit_seq', sa.Integer(), nullable=True),
    sa.CheckConstraint("verdict IN ('supports', 'does_not_support', 'outdated', 'inaccessible')", name=op.f('ck_source_checks_verdict_known')),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], name=op.f('fk_source_checks_article_id_articles')),
    sa.ForeignKeyConstraint(['checker_id'], ['users.id'], name=op.f('fk_source_checks_checker_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source_checks'))
    )
    with op.batch_alter_table('source_checks', schema=None) as batch_op:
        batch_op.create_index('ix_source_checks_article_key', ['article_id', 'key', 'text_hash', 'id'], unique=False)

    op.create_table('revision_sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('revision_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=True),
    sa.Column('doi', sa.String(length=200), nullable=True),
    sa.Column('text_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['revision_id'], ['revisions.id'], name=op.f('fk_revision_sources_revision_id_revisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_revision_sources')),
    sa.UniqueConstraint('revision_id', 'key', name=op.f('uq_revision_sources_revision_id'))
    )
    with op.batch_alter_table('revision_sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_revision_sources_revision_id'), ['revision_id'], unique=False)

    with op.batch_alter_table('outbox_emails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('published_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sources_json', sa.Text(), server_default='[]', nullable=False))

    _parse_existing_sources()


def _parse_existing_sources() -> None:
    """Store the sources of every revision saved before sources were stored (sources.parsing)."""
    from reviewflow.sources.parsing import sources_of

    bind = op.get_bind()
    table = sa.table("revision_sources", *(sa.column(c) for c in (
        "revision_id", "position", "key", "text", "url", "doi", "text_hash")))
    rows = []
    for revision_id, body in bind.execute(sa.text("SELECT id, body FROM revisions WHERE body LIKE '%[^%'")):
        rows += [{"revision_id": revision_id, **source} for source in sources_of(body)]
    if rows:
        op.bulk_insert(table, rows)


def downgrade():
    with op.batch_alter_table('published_versions', schema=None) as batch_op:
        batch_op.drop_column('sources_json')

    with op.batch_alter_table('outbox_emails', schema=None) as batch_op:
        batch_op.drop_column('next_attempt_at')

    with op.batch_alter_table('revision_sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_revision_sources_revision_id'))

    op.drop_table('revision_sources')
    with op.batch_alter_table('source_checks', schema=None) as batch_op:
        batch_op.drop_index('ix_source_checks_article_key')

    op.drop_table('source_checks')
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_idempotency_keys_created_at')

    op.drop_table('idempotency_keys')
