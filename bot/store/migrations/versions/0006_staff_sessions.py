"""Staff sessions kept in the store, so that they can be ended; failed logins counted per client and name.

A signed cookie alone could not be taken back: logging out, disabling an account or changing its
password left a copied cookie working until it expired. The cookie now carries a random token and
this table holds its SHA-256 digest (never the token), the member it belongs to, and when it began
and was last seen.

Failed logins were counted on the account itself, so five wrong passwords from anywhere locked
its owner out, and only a name that exists was ever locked (which told names apart).
``login_throttle`` counts them per (client, name), per client and per name instead, under SHA-256
keys. ``staff.failed_logins`` and ``staff.locked_until`` are no longer used.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff_sessions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("staff_id", Id, sa.ForeignKey("staff.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("last_seen_at", When, nullable=False),
    )
    op.create_index("ix_staff_sessions_staff", "staff_sessions", ["staff_id"])
    op.create_table(
        "login_throttle",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("name_hash", sa.String(64)),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("locked_until", When),
        sa.Column("updated_at", When, nullable=False),
    )
    op.create_index("ix_login_throttle_name", "login_throttle", ["name_hash"])
    op.create_index("ix_login_throttle_updated", "login_throttle", ["updated_at"])


def downgrade() -> None:
    op.drop_table("login_throttle")
    op.drop_table("staff_sessions")
