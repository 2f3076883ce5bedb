"""each person's time zone, for the times the pages show them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 07:05:00

Times are stored in UTC as before; a person's pages show them in the zone they chose on their
preferences page (an IANA name such as "Europe/Berlin"), UTC until they choose.
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('time_zone', sa.String(length=64), nullable=False, server_default='UTC'))


def downgrade():
    with op.batch_alter_table('users') as batch:
        batch.drop_column('time_zone')
