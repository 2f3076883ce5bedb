"""notifications grouped by article, e-mail digests and each person's e-mail choice

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 09:50:00

Each notification may name its article (with the title as it was), what happened and the words
behind it (a comment), and where it stands with e-mail: waiting for a digest, queued (in an
e-mail of its own or a digest) or never e-mailed. Notifications from before this upgrade were
e-mailed one by one already: they are "queued". notification_settings holds a person's choice
(immediately, hourly digest, daily digest, off) and when their last digest was queued; a person
without a row gets the hourly digest.
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('article_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('article_title', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('kind', sa.String(length=30), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('detail', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('mail', sa.String(length=10), nullable=False, server_default='queued'))
        batch_op.add_column(sa.Column('digest_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_notifications_article_id_articles'), 'articles',
                                    ['article_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_notifications_digest_id_outbox_emails'), 'outbox_emails',
                                    ['digest_id'], ['id'])
        batch_op.create_check_constraint(batch_op.f('ck_notifications_mail_known'),
                                         "mail IN ('pending', 'queued', 'none')")
        batch_op.create_index('ix_notifications_user_article', ['user_id', 'article_id', 'id'], unique=False)
        batch_op.create_index('ix_notifications_mail', ['mail', 'user_id', 'id'], unique=False)

    op.create_table('notification_settings',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('email_mode', sa.String(length=12), nullable=False),
    sa.Column('last_digest_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("email_mode IN ('immediately', 'hourly', 'daily', 'off')",
                       name=op.f('ck_notification_settings_email_mode_known')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_settings_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_notification_settings'))
    )


def downgrade():
    op.drop_table('notification_settings')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_mail')
        batch_op.drop_index('ix_notifications_user_article')
        batch_op.drop_constraint(batch_op.f('ck_notifications_mail_known'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_notifications_digest_id_outbox_emails'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_notifications_article_id_articles'), type_='foreignkey')
        batch_op.drop_column('digest_id')
        batch_op.drop_column('mail')
        batch_op.drop_column('detail')
        batch_op.drop_column('kind')
        batch_op.drop_column('article_title')
        batch_op.drop_column('article_id')
