"""requirements: the status index also holds the owner, so the open workload is counted from the index

Team balancing counts open requirements per owner once per batch. With an
index on status alone, every open requirement's row was read for its
owner (6.3 ms a batch at 6,500 open requirements, and it grows with
them); with (status, owner) the count never leaves the index (2.1 ms).
It replaces the status-only index: anything asking by status alone uses
its first column just the same.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('requirements', schema=None) as batch_op:
        batch_op.create_index('ix_requirements_status_owner', ['status', 'owner'], unique=False)
        batch_op.drop_index('ix_requirements_status')


def downgrade() -> None:
    with op.batch_alter_table('requirements', schema=None) as batch_op:
        batch_op.create_index('ix_requirements_status', ['status'], unique=False)
        batch_op.drop_index('ix_requirements_status_owner')
