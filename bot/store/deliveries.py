"""The completion webhook's queue: one row per completed intake to POST to the clinic (rows are
queued by ``Tx.queue_completion`` in the turn that completes the intake)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.store.schema import webhook_deliveries
from bot.store.store import Tx


def due(tx: Tx, now: datetime, limit: int = 50) -> list[sa.Row]:
    """Deliveries neither delivered nor given up on whose next try is due, oldest first."""
    return list(
        tx.conn.execute(
            sa.select(webhook_deliveries)
            .where(
                webhook_deliveries.c.delivered_at.is_(None),
                webhook_deliveries.c.gave_up_at.is_(None),
                sa.or_(webhook_deliveries.c.next_try_at.is_(None), webhook_deliveries.c.next_try_at <= now),
            )
            .order_by(webhook_deliveries.c.id)
            .limit(limit)
        )
    )


def claim(tx: Tx, delivery_id: int, now: datetime, until: datetime) -> bool:
    """Take a due delivery for one attempt; False when another process took it first. Until
    ``until`` nobody else will (if this process dies meanwhile, another one tries after that)."""
    done = tx.conn.execute(
        webhook_deliveries.update()
        .where(
            webhook_deliveries.c.id == delivery_id,
            webhook_deliveries.c.delivered_at.is_(None),
            webhook_deliveries.c.gave_up_at.is_(None),
            sa.or_(webhook_deliveries.c.next_try_at.is_(None), webhook_deliveries.c.next_try_at <= now),
        )
        .values(next_try_at=until)
    )
    return done.rowcount == 1


def update(tx: Tx, delivery_id: int, **values: Any) -> None:
    """Record the body of a first attempt, or how an attempt went."""
    tx.conn.execute(webhook_deliveries.update().where(webhook_deliveries.c.id == delivery_id).values(**values))


def given_up(tx: Tx) -> list[sa.Row]:
    """Deliveries given up on, newest first (admins see them)."""
    return list(
        tx.conn.execute(
            sa.select(webhook_deliveries)
            .where(webhook_deliveries.c.gave_up_at.isnot(None))
            .order_by(webhook_deliveries.c.id.desc())
        )
    )
