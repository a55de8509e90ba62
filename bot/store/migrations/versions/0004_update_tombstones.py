"""Tombstones of erased updates: messages.intake_id may be empty.

``/delete`` erases everything of a chat, including the transcript rows whose ``update_id`` tells a
redelivered update from a new one. If the bot died after committing the erasure but before
Telegram heard the batch was applied, Telegram sends the batch's updates again, and an answer given
before the erasure would begin a new intake holding the person's Telegram name. The erasure
therefore keeps each erased input's ``update_id`` on a row with nothing else (no intake, no chat,
no text) for two days, longer than Telegram keeps an update; the unique ``update_id`` refuses the
redelivery as it refuses any other.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.migrations.rebuild import rebuilt

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _rebuild_messages(nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM messages WHERE intake_id IS NULL")
    _rebuild_messages(nullable=False)


def _rebuild_messages(nullable: bool) -> None:
    """messages.intake_id made nullable (or not), the id counter kept (``rebuild.py``)."""
    with rebuilt("messages") as batch:
        batch.alter_column(
            "intake_id", existing_type=sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=nullable
        )
