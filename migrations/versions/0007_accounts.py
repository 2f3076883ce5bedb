"""accounts fit for signatures: sessions, invitations, password resets, token expiry

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 06:09:25

A record per signed-in browser (``user_sessions``, keyed by the SHA-256 of a random key the session
cookie carries): cookies issued before this upgrade have no record, so everyone signs in once more.
Invitations and password resets are one-time links stored as SHA-256 digests only. API tokens may
expire (``api_tokens.expires_at``, empty for the tokens that exist).
"""
import sqlalchemy as sa
from alembic import op

import reviewflow.extensions

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('roles', sa.String(length=100), nullable=False),
    sa.Column('bio', sa.Text(), nullable=False),
    sa.Column('profile_json', sa.Text(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', reviewflow.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', reviewflow.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', reviewflow.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', reviewflow.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', reviewflow.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('(accepted_at IS NULL AND user_id IS NULL) OR (accepted_at IS NOT NULL AND user_id IS NOT NULL)', name=op.f('ck_invitations_accepted_has_user')),
    sa.CheckConstraint('accepted_at IS NULL OR revoked_at IS NULL', name=op.f('ck_invitations_accepted_or_revoked')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_invitations_created_by_id_users')),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['users.id'], name=op.f('fk_invitations_revoked_by_id_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_invitations_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_invitations_token_hash'))
    )
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index('ix_invitations_email', ['email'], unique=False)

    op.create_table('password_resets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('created_at', reviewflow.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', reviewflow.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', reviewflow.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_password_resets_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_resets')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_password_resets_token_hash'))
    )
    with op.batch_alter_table('password_resets', schema=None) as batch_op:
        batch_op.create_index('ix_password_resets_email', ['email', 'created_at'], unique=False)
        batch_op.create_index('ix_password_resets_user_id', ['user_id', 'used_at'], unique=False)

    op.create_table('user_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', reviewflow.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', reviewflow.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', reviewflow.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.Column('user_agent', sa.String(length=300), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_user_sessions_key_hash'))
    )
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_user_sessions_user_id', ['user_id', 'ended_at'], unique=False)

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', reviewflow.extensions.UTCDateTime(timezone=True), nullable=True))



def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')

    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_user_sessions_user_id')

    op.drop_table('user_sessions')
    with op.batch_alter_table('password_resets', schema=None) as batch_op:
        batch_op.drop_index('ix_password_resets_user_id')
        batch_op.drop_index('ix_password_resets_email')

    op.drop_table('password_resets')
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index('ix_invitations_email')

    op.drop_table('invitations')
