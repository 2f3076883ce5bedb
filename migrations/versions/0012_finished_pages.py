"""finished public pages shared by every process, and per-article change stamps

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 09:45:00

``finished_pages`` keeps each public page as readers get it, built once and read with one indexed
query by any process that does not hold it in memory; ``page_stamps`` records the public counter's
value when an article (or the lists, or the whole site) last changed, so a process evicts only what a
change touched and a page built before a change is never served after it. Both are derived data.
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('finished_pages',
                    sa.Column('key', sa.String(length=600), nullable=False),
                    sa.Column('scope', sa.Integer(), nullable=False),
                    sa.Column('generation', sa.Integer(), nullable=False),
                    sa.Column('build', sa.String(length=32), nullable=False),
                    sa.Column('status', sa.Integer(), nullable=False),
                    sa.Column('meta', sa.Text(), nullable=False),
                    sa.Column('body', sa.LargeBinary(), nullable=False),
                    sa.PrimaryKeyConstraint('key', name=op.f('pk_finished_pages')))
    op.create_index('ix_finished_pages_scope', 'finished_pages', ['scope'])
    op.create_table('page_stamps',
                    sa.Column('scope', sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column('generation', sa.Integer(), nullable=False),
                    sa.PrimaryKeyConstraint('scope', name=op.f('pk_page_stamps')))
    op.create_index('ix_page_stamps_generation', 'page_stamps', ['generation'])


def downgrade():
    op.drop_index('ix_page_stamps_generation', table_name='page_stamps')
    op.drop_table('page_stamps')
    op.drop_index('ix_finished_pages_scope', table_name='finished_pages')
    op.drop_table('finished_pages')
