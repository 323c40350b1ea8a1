"""messages.raw_blob: where a large mail is kept as received

A mail over a few MB is spooled while it is read (fetch.spool): its files
go to the attachment store as they arrive, and so does the whole mail.
``raw`` then holds the mail with those files left out, and ``raw_blob`` the
relative path of the original in the store. NULL for every other mail.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('raw_blob', sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('raw_blob')
