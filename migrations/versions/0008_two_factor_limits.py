"""two-factor sign-in and log-in counters

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 06:30:00

``two_factor``: each person's TOTP key (in force once confirmed) and the last time step used;
``recovery_codes``: SHA-256 of single-use recovery codes; ``login_counters``: the log-in limits'
counters, each changed by one atomic statement (``reviewflow.auth.throttle``). The older
``login_throttles`` table is left alone (no longer written); a later migration may drop it.
"""
import sqlalchemy as sa
from alembic import op

import reviewflow.extensions

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('two_factor',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('secret', sa.String(length=64), nullable=False),
    sa.Column('confirmed_at', reviewflow.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_step', sa.Integer(), nullable=False),
    sa.Column('created_at', reviewflow.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_two_factor_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_two_factor'))
    )
    op.create_table('recovery_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('used_at', reviewflow.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', reviewflow.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_recovery_codes_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes'))
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_codes_user_id'), ['user_id'], unique=False)
    op.create_table('login_counters',
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('wait_until', reviewflow.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.Column('window_ends_at', reviewflow.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_counters'))
    )


def downgrade():
    op.drop_table('login_counters')
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_codes_user_id'))
    op.drop_table('recovery_codes')
    op.drop_table('two_factor')
