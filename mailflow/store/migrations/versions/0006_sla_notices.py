"""sla_notices: each SLA reminder, escalation, progress mail and breach, once per deadline

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sla_notices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('requirement_id', sa.String(length=32), nullable=False),
        sa.Column('clock', sa.String(length=32), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['requirement_id'], ['requirements.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_sla_notices_requirement_id', 'sla_notices', ['requirement_id'])
    op.create_index('ux_sla_notices_deadline', 'sla_notices', ['requirement_id', 'clock', 'due_at', 'kind'],
                    unique=True)


def downgrade() -> None:
    op.drop_index('ux_sla_notices_deadline', table_name='sla_notices')
    op.drop_index('ix_sla_notices_requirement_id', table_name='sla_notices')
    op.drop_table('sla_notices')
