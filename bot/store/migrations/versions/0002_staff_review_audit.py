"""Staff accounts, review marks and notes, the audit log, API tokens, completion webhooks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("disabled_at", When),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", When),
        sa.Column("last_login_at", When),
    )
    with op.batch_alter_table("intakes") as batch:
        batch.add_column(sa.Column("reviewed_at", When))
        batch.add_column(sa.Column("reviewed_by", sa.String(64)))
    op.create_table(
        "notes",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("intake_id", Id, sa.ForeignKey("intakes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", When, nullable=False),
    )
    op.create_index("ix_notes_intake", "notes", ["intake_id", "id"])
    op.create_table(
        "audit",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        # no foreign key: the record of who looked at an intake outlives the intake's erasure
        sa.Column("intake_id", sa.BigInteger),
        sa.Column("detail", sa.String(256)),
        sa.Column("at", When, nullable=False),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_table(
        "api_tokens",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("revoked_at", When),
        sa.Column("last_used_at", When),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("intake_id", Id, sa.ForeignKey("intakes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("body", sa.Text),  # set at the first attempt; retries send the same bytes
        sa.Column("created_at", When, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_try_at", When),
        sa.Column("delivered_at", When),
        sa.Column("gave_up_at", When),
        sa.Column("last_error", sa.String(256)),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["delivered_at", "gave_up_at", "next_try_at"])


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("api_tokens")
    op.drop_table("audit")
    op.drop_table("notes")
    with op.batch_alter_table("intakes") as batch:
        batch.drop_column("reviewed_by")
        batch.drop_column("reviewed_at")
    op.drop_table("staff")
