"""outbox.recipient: count automatic replies per address (RFC 3834 flood protection)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient', sa.String(length=320), nullable=False, server_default=''))
        batch_op.create_index('ix_outbox_recipient_created_at', ['recipient', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_recipient_created_at')
        batch_op.drop_column('recipient')
