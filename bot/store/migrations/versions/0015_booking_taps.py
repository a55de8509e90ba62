"""Booking by outcome: the booking button's tap, and the one nudge to book (issue 14, section 3).

On ``intakes``:

- ``booking_token``: the random, URL-safe token of the intake's tracked booking address
  (``PUBLIC_URL/b/<token>``), made by the turn that first shows an ending with a booking button
  while taps are recorded; never the intake's number, and erased with the row (``/delete``,
  retention), so an erased intake's address finds nothing. Unique where set.
- ``booking_tapped_at`` / ``booking_taps``: the first tap on that address and how many there were,
  written by the web app's redirect only (never by a turn). Nothing of the booking site is known.
- ``booking_nudged_at``: when the one reminder to book was sent (``bot.jobs.booking_nudge``),
  written by the turn that queues it, in the same transaction: never twice, never lost.

Indexes, each only where set: the token (the redirect's lookup), the taps (the staff list's
"tapped booking" filter) and the intakes a nudge may still be due for.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

When = sa.DateTime(timezone=True)
TOKEN_SET = sa.text("booking_token IS NOT NULL")
TAPPED = sa.text("booking_tapped_at IS NOT NULL")
#: shown a tracked button, not tapped, not nudged: what ``Tx.booking_nudges_due`` reads
NUDGE_DUE = sa.text("booking_token IS NOT NULL AND booking_tapped_at IS NULL AND booking_nudged_at IS NULL")


def upgrade() -> None:
    # Plain nullable columns (and one with a default): both databases add them in place.
    op.add_column("intakes", sa.Column("booking_token", sa.String(32)))
    op.add_column("intakes", sa.Column("booking_tapped_at", When))
    op.add_column("intakes", sa.Column("booking_taps", sa.Integer, nullable=False, server_default="0"))
    op.add_column("intakes", sa.Column("booking_nudged_at", When))
    op.create_index(
        "ix_intakes_booking_token",
        "intakes",
        ["booking_token"],
        unique=True,
        sqlite_where=TOKEN_SET,
        postgresql_where=TOKEN_SET,
    )
    op.create_index(
        "ix_intakes_booking_tapped",
        "intakes",
        ["booking_tapped_at", "id"],
        sqlite_where=TAPPED,
        postgresql_where=TAPPED,
    )
    op.create_index(
        "ix_intakes_booking_due", "intakes", ["completed_at"], sqlite_where=NUDGE_DUE, postgresql_where=NUDGE_DUE
    )


def downgrade() -> None:
    for name in ("ix_intakes_booking_due", "ix_intakes_booking_tapped", "ix_intakes_booking_token"):
        op.drop_index(name, "intakes")
    # In place on both (SQLite 3.35+ drops a column no index names): a rebuild of intakes here,
    # under the tables that refer to it (talks, funnel_steps, intake_search), was refused as locked.
    for column in ("booking_nudged_at", "booking_taps", "booking_tapped_at", "booking_token"):
        op.drop_column("intakes", column)
