"""Urgent intakes stay urgent until a member of staff acknowledges them.

- ``intakes.urgent_shown_at``: when an urgent text was last shown to the patient (the latest of
  the conversation's ``urgent_shown`` records), written by turns. It is never cleared by a turn:
  going back and changing the answer behind it leaves it as it was.
- ``intakes.acknowledged_at`` / ``acknowledged_by``: who acknowledged the urgent intake and when,
  written by staff only (never by a turn). The list pins an intake while an urgent text was shown
  after its last acknowledgement (or it was never acknowledged).

Intakes already urgent when this runs had an urgent text shown before the record existed: they
get the time they ended (or were last active) and are pinned until acknowledged.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

When = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("intakes") as batch:
        batch.add_column(sa.Column("urgent_shown_at", When))
        batch.add_column(sa.Column("acknowledged_at", When))
        batch.add_column(sa.Column("acknowledged_by", sa.String(64)))
    intakes = sa.table(
        "intakes",
        sa.column("urgent", sa.Boolean),
        sa.column("urgent_shown_at", When),
        sa.column("completed_at", When),
        sa.column("updated_at", When),
    )
    op.execute(
        intakes.update()
        .where(intakes.c.urgent == sa.true())
        .values(urgent_shown_at=sa.func.coalesce(intakes.c.completed_at, intakes.c.updated_at))
    )


def downgrade() -> None:
    with op.batch_alter_table("intakes") as batch:
        batch.drop_column("acknowledged_by")
        batch.drop_column("acknowledged_at")
        batch.drop_column("urgent_shown_at")
