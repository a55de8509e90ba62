"""Staff alerts: a durable queue of alerts to the staff Telegram chat and by e-mail.

One row per intake, event (urgent, human, high, completed) and channel, queued in the same
transaction as the turn that raised the event and sent by a background job (``bot.jobs.alerts``).
The unique key on (intake, event, reason, channel) makes each alert once only (the reason of an
urgent alert is its flag: each urgent flag raised alerts staff once).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("intake_id", sa.BigInteger, nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False, server_default=""),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_try_at", When),
        sa.Column("sent_at", When),
        sa.Column("gave_up_at", When),
        sa.Column("last_error", sa.String(256)),
        sa.UniqueConstraint("intake_id", "event", "reason", "channel", name="uq_alerts_intake_event_channel"),
    )
    op.create_index("ix_alerts_due", "alerts", ["sent_at", "gave_up_at", "next_try_at"])


def downgrade() -> None:
    op.drop_table("alerts")
