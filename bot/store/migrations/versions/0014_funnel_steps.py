"""Funnel steps: where patients drop off (issue 14, section 4).

``funnel_steps``: one row per intake and step the person reached, written by the turn that moves
them (a turn that changes nothing of their place writes nothing): when they last came to it
(``entered``, seconds since the epoch: plain integer arithmetic on both databases), the seconds
spent on it once left (summed over visits; NULL while never left), how often they went back from
it, how many invalid answers it drew, and whether they are on it now (``here``); a step skip logic
hid from the person is a row marked ``skipped``. The intake's start, flow version and source are
copied in, so the funnel is counted from one covering index. The staff page
/funnel counts these rows; nothing in a row tells what was answered.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "funnel_steps",
        sa.Column(
            "intake_id", Id, sa.ForeignKey("intakes.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
        ),
        sa.Column("step", sa.String(64), primary_key=True),
        sa.Column("entered", sa.BigInteger, nullable=False),
        sa.Column("seconds", sa.Integer),
        sa.Column("backs", sa.Integer, nullable=False, server_default="0"),
        sa.Column("invalid", sa.Integer, nullable=False, server_default="0"),
        sa.Column("here", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("skipped", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("begun", sa.DateTime(timezone=True), nullable=False),
        sa.Column("flow_version", sa.String(32), nullable=False),
        sa.Column("source", sa.String(64)),
    )
    # Everything the funnel reads, in the order it groups by: one index scan, no sort and no read
    # of the intakes (joining them cost 8 s at 100,000 intakes on SQLite; this, well under one).
    op.create_index(
        "ix_funnel_steps_count",
        "funnel_steps",
        ["step", "seconds", "here", "skipped", "backs", "invalid", "begun", "flow_version", "source"],
    )
    # The page's choice of flow versions: without it, a read of every intake (250 ms at 100,000).
    op.create_index("ix_intakes_flow_version", "intakes", ["flow_version"])


def downgrade() -> None:
    op.drop_index("ix_intakes_flow_version", "intakes")
    op.drop_table("funnel_steps")
