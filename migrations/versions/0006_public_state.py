"""the public generation counter

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 04:08:00

One row whose counter is bumped in the same transaction as every change readers could see. Each
process keeps finished public pages while the counter it last read (at most a second ago) is
unchanged, so a random live article is served from memory without going stale.
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('public_state',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('generation', sa.Integer(), nullable=False),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_public_state')))
    op.execute("INSERT INTO public_state (id, generation) VALUES (1, 0)")


def downgrade():
    op.drop_table('public_state')
