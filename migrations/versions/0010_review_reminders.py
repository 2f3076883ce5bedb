"""reminders of review due dates, recorded on the assignment

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 09:50:00

``flask remind-reviewers`` queues a reminder before a review's due date and, once it is overdue, one
at most every few days. Each is claimed by a conditional UPDATE of these columns, so a reminder goes
out once even when two runs overlap. An index on (status, due_date) serves that daily scan and the
editors' list of reviews in progress.
"""
import sqlalchemy as sa
from alembic import op

import reviewflow.extensions

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('review_assignments') as batch:
        batch.add_column(sa.Column('due_reminder_at', reviewflow.extensions.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('overdue_reminder_at', reviewflow.extensions.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('overdue_reminders', sa.Integer(), nullable=False, server_default='0'))
        batch.create_index('ix_review_assignments_status_due', ['status', 'due_date'], unique=False)


def downgrade():
    with op.batch_alter_table('review_assignments') as batch:
        batch.drop_index('ix_review_assignments_status_due')
        batch.drop_column('overdue_reminders')
        batch.drop_column('overdue_reminder_at')
        batch.drop_column('due_reminder_at')
