"""Flow versions: every edition of a flow the bot has run, and each intake bound to its own (issue 15, section 3).

``flow_versions``: one row per content of a flow, keyed by its SHA-256 content hash
(``bot.flow.versions.content_hash``: the parsed YAML, so a comment or a re-indent is the same
content), with the flow's id and version string, the YAML source as it was read, and when a
process first ran it. Written once, at the start of the first process that runs that content;
never changed, never erased (an intake of that version may be read for as long as it is kept).

``intakes.flow_hash``: the content hash of the version the intake began on, written once as it
begins. The version string alone is not enough: a clinic may edit a flow and keep its version
string (``validate`` refuses that from now on, but earlier edits did it). Intakes begun before
this migration have none; the first process that runs a flow after it binds those whose flow id
and version string are the running flow's (the only content the store can know for them), and
leaves the others to ``Engine.recover`` (``bot.engine.engines``).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flow_versions",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("flow_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("first_run_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_flow_versions_flow", "flow_versions", ["flow_id", "first_run_at"])
    op.add_column("intakes", sa.Column("flow_hash", sa.String(64)))


def downgrade() -> None:
    op.drop_column("intakes", "flow_hash")
    op.drop_index("ix_flow_versions_flow", "flow_versions")
    op.drop_table("flow_versions")
