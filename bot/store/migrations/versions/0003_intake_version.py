"""Intake versions, and ids that are never used twice (SQLite).

- ``intakes.version``, raised by every write of the conversation. The Telegram channel keeps the
  intakes of recently active chats in memory between turns; a turn compares this number with its
  copy's to know the copy is still what the store holds (the bot marks quiet intakes abandoned,
  retention erases old ones, another process might write too).
- SQLite hands out the highest id plus one, so after the newest intake or message is erased its
  id comes back. An erased intake's number would then name somebody else's in the audit log, a
  button left on an erased intake's message could answer the next intake, and a "sent" mark still
  on its way could land on a new reply. AUTOINCREMENT never gives an id twice; it needs the
  tables rebuilt, which batch mode does (the store turns foreign keys off while migrating, so
  the rebuild cascades nothing). PostgreSQL's sequences never reuse ids: it only gets the column.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    rebuild = {"recreate": "always", "table_kwargs": {"sqlite_autoincrement": True}} if sqlite else {}
    with op.batch_alter_table("intakes", **rebuild) as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="0"))
    if sqlite:
        with op.batch_alter_table("messages", **rebuild):
            pass


def downgrade() -> None:
    with op.batch_alter_table("intakes") as batch:
        batch.drop_column("version")
