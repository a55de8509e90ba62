"""The staff work queue: who needs the clinic first, who took it, what came of it, fast at 100,000.

- ``intakes.waiting_since``: the oldest patient message the clinic has not answered yet (the
  conversation panel sets and clears it); the queue lists those waiting, oldest wait first.
- ``intakes.severity``: the highest raised flag's severity as a number (4 urgent, 3 high,
  2 review, 1 note, 0 none), written by turns beside ``flags`` so that a list can be sorted and the
  queue can find "high flags" through an index. Intakes already stored get theirs from the flow
  when the staff app starts (``bot.store.review.rank_severities``): the store knows no flow.
- ``assigned_to``/``assigned_at``: the staff member who took the intake, and when.
- ``follow_up``/``follow_up_at``/``follow_up_by``: what came of contacting the patient (a fixed
  set: called_back, booked, no_answer), written by staff only, each change in the audit log.
- Indexes for the list's sorts (keyset pages read along them, never OFFSET) and for the filters
  and queue buckets that match few intakes; see ``bot.store.queue``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.migrations.rebuild import rebuilt

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

When = sa.DateTime(timezone=True)
UNREVIEWED = sa.text("reviewed_at IS NULL")


def _set(column: str) -> sa.TextClause:
    return sa.text(f"{column} IS NOT NULL")


#: name -> (columns, partial-index condition or None). The sparse columns are indexed only where
#: set: small indexes, and a turn that leaves them empty (nearly every turn) writes none of them.
INDEXES: dict[str, tuple[list[str], sa.TextClause | None]] = {
    "ix_intakes_created": (["created_at", "id"], None),
    "ix_intakes_severity": (["severity", "created_at", "id"], None),
    "ix_intakes_unreviewed": (["created_at", "id"], UNREVIEWED),
    "ix_intakes_waiting": (["waiting_since", "id"], _set("waiting_since")),
    "ix_intakes_human": (["human_requested_at", "id"], _set("human_requested_at")),
    "ix_intakes_urgent_shown": (["urgent_shown_at", "id"], _set("urgent_shown_at")),
    "ix_intakes_acknowledged": (["acknowledged_at"], _set("acknowledged_at")),
    "ix_intakes_assigned": (["assigned_to", "created_at", "id"], _set("assigned_to")),
    "ix_intakes_follow_up": (["follow_up", "created_at", "id"], _set("follow_up")),
    "ix_intakes_source": (["source"], None),
}


def upgrade() -> None:
    with op.batch_alter_table("intakes") as batch:
        batch.add_column(sa.Column("waiting_since", When))
        batch.add_column(sa.Column("severity", sa.SmallInteger, nullable=False, server_default="0"))
        batch.add_column(sa.Column("assigned_to", sa.String(64)))
        batch.add_column(sa.Column("assigned_at", When))
        batch.add_column(sa.Column("follow_up", sa.String(16)))
        batch.add_column(sa.Column("follow_up_at", When))
        batch.add_column(sa.Column("follow_up_by", sa.String(64)))
    for name, (columns, where) in INDEXES.items():
        op.create_index(name, "intakes", columns, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, "intakes")
    with rebuilt("intakes") as batch:  # SQLite drops a column by rebuilding the table
        for column in ("follow_up_by", "follow_up_at", "follow_up", "assigned_at", "assigned_to", "severity"):
            batch.drop_column(column)
        batch.drop_column("waiting_since")
