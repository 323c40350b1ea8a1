"""imap_folders: UIDVALIDITY and the last processed UID per (mailbox, folder), for the IMAP poller

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('imap_folders',
    sa.Column('mailbox', sa.String(length=64), nullable=False),
    sa.Column('folder', sa.String(length=512), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
    sa.Column('last_uid', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('mailbox', 'folder')
    )


def downgrade() -> None:
    op.drop_table('imap_folders')
