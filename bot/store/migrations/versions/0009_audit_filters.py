"""The audit log's filters: an index for each of staff member, action and intake, newest first.

The audit page pages on the line's id (keyset) and filters by one of these; with (column, id) the
database reads just the 100 lines of the page, where without it a filter that matches few lines
reads the whole log (every view and every exported intake writes a line). The action index also
gives the filter's choice of actions without reading the log (see ``bot.store.review.actions``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEXES = {"ix_audit_actor": "actor", "ix_audit_action": "action", "ix_audit_intake": "intake_id"}


def upgrade() -> None:
    for name, column in INDEXES.items():
        op.create_index(name, "audit", [column, "id"])


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, "audit")
