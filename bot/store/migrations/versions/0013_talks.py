"""Talks: a live conversation between the clinic and a patient, inside the bot's chat.

(Called a *talk* in the code: a ``Conversation`` there is one person's way through the flow.)
``talks``: one row each time one is opened (by the patient's /human, or by staff), with
who opened and ended it and how it ended. ``intakes.talk_id`` is the one open now (a turn
reads it with the intake: what the patient types then goes to staff, not into the questionnaire)
and ``intakes.waiting_since`` the oldest patient message the clinic has not answered (set by a
turn, cleared by a staff reply or staff ending the talk). A message of the conversation is a plain transcript row
(``messages``) marked with its ``talk_id``; a staff message is an outgoing row (the
outbox: stored before it is sent, sent in order with the bot's replies) with its ``sender``.
Staff get a ``display_name`` (what a patient reads, never the login name); API tokens a
``scopes`` list (those made before stay read-only).

``waiting_since`` itself comes with the work queue (0010), which orders by it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "talks",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("intake_id", Id, sa.ForeignKey("intakes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("opened_at", When, nullable=False),
        sa.Column("opened_by", sa.String(64), nullable=False),
        sa.Column("closed_at", When),
        sa.Column("closed_by", sa.String(64)),
        sa.Column("ending", sa.String(16)),
        sa.Column("prompted_at", When),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_talks_intake", "talks", ["intake_id", "id"])
    handback = sa.and_(sa.column("ending") == "handback", sa.column("prompted_at").is_(None))
    op.create_index("ix_talks_handback", "talks", ["id"], sqlite_where=handback, postgresql_where=handback)
    # Plain nullable columns: both databases add them in place (no table rebuild).
    op.add_column("intakes", sa.Column("talk_id", sa.BigInteger))
    op.add_column("messages", sa.Column("talk_id", sa.BigInteger))
    op.add_column("messages", sa.Column("sender", sa.String(128)))
    op.create_index("ix_messages_talk", "messages", ["talk_id", "id"])
    op.add_column("staff", sa.Column("display_name", sa.String(64)))
    op.add_column("api_tokens", sa.Column("scopes", sa.String(64), nullable=False, server_default="read"))


def downgrade() -> None:
    op.drop_column("api_tokens", "scopes")
    op.drop_column("staff", "display_name")
    op.drop_index("ix_messages_talk", "messages")
    op.drop_column("messages", "sender")
    op.drop_column("messages", "talk_id")
    op.drop_column("intakes", "talk_id")
    op.drop_table("talks")
