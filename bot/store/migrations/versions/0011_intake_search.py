"""The staff search's index: ``intake_search``, one folded text per intake, and a trigram index on it.

``LIKE '%…%'`` on the intakes' names read the whole table (0.2 to 0.9 s at 100,000 intakes) and
found neither an accent-folded name nor a phone number. The text to search is now made once per
change (``bot.store.search_text``), kept in its own narrow table and looked up through a trigram
index: on PostgreSQL pg_trgm's GIN index (the extension ships with PostgreSQL and is trusted:
the database's owner may create it); on SQLite an FTS5 table with the trigram tokenizer (SQLite
3.34 or later), an external-content table over ``intake_search`` kept in step by triggers, so
that a row deleted (an erased intake) leaves the index with it.

Existing intakes are indexed here, a thousand at a time, before the index is built.

Revision ID: 0011
Revises: 0010 (0009 on its branch; after the work queue's 0010 on branch i13-queue)
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.search_index import SQLITE_INDEX, fill_missing

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "intake_search",
        sa.Column(
            "intake_id", Id, sa.ForeignKey("intakes.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
        ),
        sa.Column("text", sa.Text, nullable=False),
    )
    fill_missing(bind)
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_intake_search_text ON intake_search USING gin (text gin_trgm_ops)")
    else:
        for statement in SQLITE_INDEX:
            op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trigger in ("intake_search_ai", "intake_search_ad", "intake_search_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS intake_search_fts")
    op.drop_table("intake_search")  # its index with it; pg_trgm stays (other things may use it)
