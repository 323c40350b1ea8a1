"""requirements.tick_at: when the SLA tick next needs to look at a requirement

Without it the tick looked at every open requirement every minute: about a
millisecond each, so tens of thousands of open requirements after a large backlog
kept a core busy. NULL means "not looked at since it was created": every
existing requirement is looked at once, then only when its next reminder,
deadline or progress mail comes, or when it changes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('requirements') as batch:
        batch.add_column(sa.Column('tick_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_requirements_tick_at', 'requirements', ['tick_at'])


def downgrade() -> None:
    op.drop_index('ix_requirements_tick_at', table_name='requirements')
    with op.batch_alter_table('requirements') as batch:
        batch.drop_column('tick_at')
