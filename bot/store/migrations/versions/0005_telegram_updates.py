"""Updates seen, by bot, with what they carried, within Telegram's redelivery window: telegram_updates.

Until now a redelivered update was recognised by ``messages.update_id`` alone, unique and kept as
long as the intake lived. But numbers repeat: Telegram numbers updates per bot, picks the next
number at random after a week without updates, and a new token may number afresh. An update whose
number was seen before, by another bot or long ago, was dropped in silence. A redelivery is the
same update: the same bot, the same number, carrying the same message or button press (its
fingerprint, a hash of Telegram's ids, never of the words), within the time Telegram keeps an
update (24 hours; rows are forgotten after two days). The table holds no person's data, so an
erasure leaves it be and the erased chat's transcript goes whole (the tombstones of migration 0004
go, and ``messages.intake_id`` is required again); ``messages.update_id`` stays on an input row as
a plain record of the update it came from.

The updates of the last two days are carried over under bot 0, "the bot this database served",
with fingerprint 0, "not known": the first bot to start on the database takes them as its own
(``Tx.adopt_updates``), so an update applied just before the upgrade is still refused if Telegram
sends it again just after. A downgrade turns the updates seen back into 0004's tombstones.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from bot.store.migrations.rebuild import rebuilt

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
#: SQLite reflects the column's inline UNIQUE without a name: the convention names it to drop it.
NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    op.create_table(
        "telegram_updates",
        sa.Column("bot_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("update_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("fingerprint", sa.BigInteger, nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_telegram_updates_seen", "telegram_updates", ["seen_at"])
    carry = sa.text(
        "INSERT INTO telegram_updates (bot_id, update_id, fingerprint, seen_at) "
        "SELECT 0, update_id, 0, at FROM messages WHERE update_id IS NOT NULL AND at >= :since"
    ).bindparams(sa.bindparam("since", type_=sa.DateTime(timezone=True)))
    bind = op.get_bind()
    bind.execute(carry, {"since": datetime.now(UTC) - timedelta(days=2)})
    op.execute("DELETE FROM messages WHERE intake_id IS NULL")  # the tombstones
    unique = _unique_on(bind, "messages", "update_id")
    with rebuilt("messages", naming_convention=NAMES) as batch:
        batch.drop_constraint(unique or "uq_messages_update_id", type_="unique")
        batch.alter_column("intake_id", existing_type=Id, nullable=False)


def downgrade() -> None:
    # The same number may now be on two inputs (two bots, or a week apart): the newest keeps it.
    op.execute(
        "UPDATE messages SET update_id = NULL WHERE update_id IS NOT NULL AND id NOT IN "
        "(SELECT max(id) FROM messages WHERE update_id IS NOT NULL GROUP BY update_id)"
    )
    with rebuilt("messages", naming_convention=NAMES) as batch:
        batch.alter_column("intake_id", existing_type=Id, nullable=True)
        batch.create_unique_constraint("uq_messages_update_id", ["update_id"])
    # Updates seen and no longer in the transcript (erased chats'): 0004's tombstones again.
    op.execute(
        "INSERT INTO messages (intake_id, chat_id, update_id, direction, kind, text, at, attempts) "
        "SELECT NULL, 0, u.update_id, 'in', 'erased', '', max(u.seen_at), 0 FROM telegram_updates u "
        "WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.update_id = u.update_id) GROUP BY u.update_id"
    )
    op.drop_index("ix_telegram_updates_seen", "telegram_updates")
    op.drop_table("telegram_updates")


def _unique_on(bind: sa.Connection, table: str, column: str) -> str | None:
    """The name of the unique constraint on ``table.column`` (PostgreSQL named it itself)."""
    for constraint in sa.inspect(bind).get_unique_constraints(table):
        if constraint["column_names"] == [column] and constraint["name"]:
            return constraint["name"]
    return None
