"""messages: a mail without Message-ID is stored once, even by workers racing on it

Mail without a Message-ID is recognised by its content hash; without a
unique key, two workers could both find it new and both store (and answer)
it. Earlier copies, if a race ever made any, keep their rows: their hash
gets a ":copy-<id>" suffix so the key can be created, nothing is deleted.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

WHERE = "direction = 'in' AND message_id IS NULL"


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(f"SELECT id, content_hash FROM messages WHERE {WHERE} ORDER BY id")).all()
    seen: set[str] = set()
    for row_id, digest in rows:
        if digest in seen:
            conn.execute(sa.text("UPDATE messages SET content_hash = :h WHERE id = :i"),
                         {"h": f"{digest}:copy-{row_id}", "i": row_id})
        seen.add(digest)
    op.create_index('ux_messages_in_content_hash', 'messages', ['content_hash'], unique=True,
                    sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE))


def downgrade() -> None:
    op.drop_index('ux_messages_in_content_hash', table_name='messages')
