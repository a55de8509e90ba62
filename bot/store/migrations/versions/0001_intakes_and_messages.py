"""Intakes and their transcript (with the outbox).

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "intakes",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.BigInteger, nullable=False),
        sa.Column("user_id", sa.BigInteger),
        sa.Column("first_name", sa.String(256)),
        sa.Column("last_name", sa.String(256)),
        sa.Column("username", sa.String(64)),
        sa.Column("flow_id", sa.String(64), nullable=False),
        sa.Column("flow_version", sa.String(32), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("source", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(64)),
        sa.Column("urgent", sa.Boolean, nullable=False),
        sa.Column("flags", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("prompt_message_id", sa.BigInteger),
        sa.Column("consent_version", sa.String(32)),
        sa.Column("consented_at", When),
        sa.Column("human_requested_at", When),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.Column("completed_at", When),
        sa.Column("reminded_at", When),
    )
    op.create_index("ix_intakes_chat", "intakes", ["chat_id", "id"])
    op.create_index("ix_intakes_status_updated", "intakes", ["status", "updated_at"])
    op.create_table(
        "messages",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("intake_id", Id, sa.ForeignKey("intakes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("chat_id", sa.BigInteger, nullable=False),
        sa.Column("update_id", sa.BigInteger, unique=True),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("at", When, nullable=False),
        sa.Column("payload", sa.Text),
        sa.Column("sent_at", When),
        sa.Column("telegram_message_id", sa.BigInteger),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_try_at", When),
        sa.Column("last_error", sa.String(256)),
    )
    op.create_index("ix_messages_intake", "messages", ["intake_id", "id"])
    unsent = sa.text("direction = 'out' AND sent_at IS NULL")
    op.create_index("ix_messages_outbox", "messages", ["chat_id", "id"], sqlite_where=unsent, postgresql_where=unsent)


def downgrade() -> None:
    op.drop_table("messages")
    op.drop_table("intakes")
