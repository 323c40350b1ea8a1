"""requirements.merged_into: a duplicate continues in another requirement

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('requirements') as batch:
        batch.add_column(sa.Column('merged_into', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('requirements') as batch:
        batch.drop_column('merged_into')
