"""The booking button's taps and the one nudge to book (migration 0015): what the web app's
redirect and ``bot.jobs.booking_nudge`` read and write.

A tap is written by the redirect alone (``booking_tapped_at``, ``booking_taps``: never a turn
column), without raising the intake's version: no turn writes those columns, so a patient's turn
in flight is not made to run again for it. The token lives on the intake's row and goes with it
(``/delete``, retention).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bot.store.records import Intake, IntakeStatus
from bot.store.review import along
from bot.store.schema import intakes
from bot.store.store import Tx

c = intakes.c


def by_token(tx: Tx, token: str) -> Intake | None:
    """The intake whose tracked booking address this is; None when no intake has that token
    (never made, or erased with its intake)."""
    row = tx.conn.execute(sa.select(intakes).where(c.booking_token == token)).first() if token else None
    return Intake.from_row(row) if row is not None else None


def note_tap(tx: Tx, intake_id: int, now: datetime) -> None:
    """A tap on the intake's booking button: the first one's time is kept, the count goes up."""
    tx.conn.execute(
        intakes.update()
        .where(c.id == intake_id)
        .values(booking_tapped_at=sa.func.coalesce(c.booking_tapped_at, now), booking_taps=c.booking_taps + 1)
    )


@dataclass(frozen=True)
class Due:
    intake_id: int
    chat_id: int


def nudges_due(tx: Tx, completed_before: datetime, completed_since: datetime, limit: int = 100) -> list[Due]:
    """Intakes a nudge to book may be due for: shown a tracked booking button (a token), not
    tapped, not nudged, completed between ``completed_since`` and ``completed_before``, with no
    urgent text shown and no urgent flag, no talk with the clinic open, and still the chat's
    latest intake (someone who began again is past it). Read along ``ix_intakes_booking_due``;
    the channel checks each again in the transaction that sends it (``TurnRunner.nudge_in``)."""
    newer = intakes.alias("newer")
    query = along(sa.select(c.id, c.chat_id), "ix_intakes_booking_due")  # not "status =": every ending
    query = (
        query.where(
            # the partial index's own terms (SQLite uses it only when the query repeats them)
            c.booking_token.is_not(None),
            c.booking_tapped_at.is_(None),
            c.booking_nudged_at.is_(None),
            c.completed_at < completed_before,
            c.completed_at >= completed_since,
            c.status == IntakeStatus.COMPLETED.value,
            c.urgent_shown_at.is_(None),
            c.urgent == sa.false(),
            c.talk_id.is_(None),
            ~sa.exists().where(newer.c.chat_id == c.chat_id, newer.c.id > c.id),
        )
        .order_by(c.completed_at)
        .limit(limit)
    )
    return [Due(row.id, row.chat_id) for row in tx.conn.execute(query)]
