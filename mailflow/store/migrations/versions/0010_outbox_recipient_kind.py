"""outbox: the flood count's index also by kind, so a staff member's internal mail is not read

The flood count asks, once per batch, for the external replies each sender
had in the last hour. By (recipient, created_at) alone the index led it
through every internal notice a staff member received in that hour too:
in a backlog, all of them, a scan that grew with the table (4.5 ms a batch
after 3,000 mails, and rising). With the kind in between it reads only the
rows it counts (0.2 ms).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_recipient_kind_created_at', ['recipient', 'kind', 'created_at'],
                              unique=False)
        batch_op.drop_index('ix_outbox_recipient_created_at')


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_recipient_created_at', ['recipient', 'created_at'], unique=False)
        batch_op.drop_index('ix_outbox_recipient_kind_created_at')
