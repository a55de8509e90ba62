"""Several workers on one PostgreSQL (issue 15, section 1): outbox leases and a shared send budget.

On ``messages`` (outgoing rows):

- ``claimed_by``: the worker (``host:pid:random``) that holds the row to send it, while
  ``lease_until`` is in the future. The worker that commits a turn claims its replies in the
  same transaction; the outbox's round claims what nobody holds (a worker SIGKILLed, a retry
  due) with ``FOR UPDATE SKIP LOCKED`` under the chat's advisory lock. A live worker extends its
  leases every second; a dead one's rows are free ``OUTBOX_LEASE`` seconds later.
  SQLite (one process) leaves both NULL.

``send_budget``: Telegram's limits for the bot as a whole (about 30 messages a second overall, 1 a
second per chat) as token buckets every worker takes from: one row per chat sent to lately, and
row 0 for the bot overall. UNLOGGED on PostgreSQL: a budget is worth nothing after a crash, and
writing it to the WAL would cost every send a flush. Unused on SQLite (the process paces in memory).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("messages", sa.Column("claimed_by", sa.String(64)))
    op.add_column("messages", sa.Column("lease_until", When))
    op.create_table(
        "send_budget",
        sa.Column("key", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("at", When, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE send_budget SET UNLOGGED")


def downgrade() -> None:
    op.drop_table("send_budget")
    for column in ("lease_until", "claimed_by"):
        op.drop_column("messages", column)
