"""indexes that fit the dashboards' filters

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 23:30:00

The editor's dashboard counts and lists live articles whose re-review falls due; without an
index that reads every article. A partial index holds just the live ones, by due date. The
article list and a person's notifications page by keyset, newest first: each gets an index in
that order, so a page is an ordered index walk instead of a sort of every row.
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

LIVE = sa.text("live_version IS NOT NULL")


def upgrade():
    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.create_index('ix_articles_rereview_due_live', ['rereview_due', 'id'], unique=False,
                              sqlite_where=LIVE, postgresql_where=LIVE)
        batch_op.create_index('ix_articles_updated', ['updated_at', 'id'], unique=False)
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_user_id', ['user_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_user_id')
    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.drop_index('ix_articles_updated')
        batch_op.drop_index('ix_articles_rereview_due_live', sqlite_where=LIVE, postgresql_where=LIVE)
