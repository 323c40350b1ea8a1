"""messages.raw and outbox.raw: compressed with lz4 on PostgreSQL instead of pglz

Every mail in or out is kept raw in these two columns, and PostgreSQL
compresses any value over about 2 KB, with pglz unless told otherwise.
pglz was a fifth of ingest's time on PostgreSQL: 2,000 generated mails
went in at 387 and 405 msg/s with it and at 480 and 471 with lz4 (stored
uncompressed, 463 and 470, on more disk). lz4 needs PostgreSQL 14 built with
it; anywhere else, SQLite included, this changes nothing. Values already
stored keep their compression; new ones get lz4.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""
from alembic import op
from sqlalchemy import text

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

TABLES = ('messages', 'outbox')


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql' or (bind.dialect.server_version_info or (0,)) < (14,):
        return False
    allowed = bind.execute(text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")).scalar()
    return 'lz4' in (allowed or [])


def upgrade() -> None:
    if _lz4_available():
        for table in TABLES:
            op.execute(f'ALTER TABLE {table} ALTER COLUMN raw SET COMPRESSION lz4')


def downgrade() -> None:
    if _lz4_available():
        for table in TABLES:
            op.execute(f'ALTER TABLE {table} ALTER COLUMN raw SET COMPRESSION default')
