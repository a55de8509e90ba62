"""Funnel steps: where patients drop off (issue 14, section 4).

``funnel_steps``: one row per intake and step the person reached, written by the turn that moves
them (a turn that changes nothing of their place writes nothing): when they last came to it
(``entered``, seconds since the epoch: plain integer arithmetic on both databases), the seconds
spent on it once left (summed over visits; NULL while never left), how often they went back from
it, how many invalid answers it drew, and whether they are on it now (``here``). The staff page
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
    )


def downgrade() -> None:
    op.drop_table("funnel_steps")
