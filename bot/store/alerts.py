"""The staff alerts' queue (``schema.alerts``): queued by a turn, sent by ``bot.jobs.alerts``.

Queuing never fails on an alert queued before: the unique key (intake, event, channel) turns a
repeat into nothing (``ON CONFLICT DO NOTHING``, on SQLite and PostgreSQL alike), so a turn may
queue without first reading whether it did already.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from bot.store.schema import alerts, intakes
from bot.store.store import Tx

_DIALECT_INSERT = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}

_NOT_DONE = sa.and_(alerts.c.sent_at.is_(None), alerts.c.gave_up_at.is_(None))


def queue(tx: Tx, intake_id: int, events: Iterable[tuple[str, str]], channels: Iterable[str], now: datetime) -> None:
    """One alert per (event, reason) and channel, unless that one was queued before (in any earlier
    turn). The reason is the urgent flag behind an urgent alert ("" for the other events)."""
    channels = list(channels)
    rows = [
        {"intake_id": intake_id, "event": event, "reason": reason, "channel": channel, "created_at": now, "attempts": 0}
        for event, reason in events
        for channel in channels
    ]
    if rows:
        insert = _DIALECT_INSERT[tx.conn.dialect.name](alerts)
        keys = ["intake_id", "event", "reason", "channel"]
        tx.conn.execute(insert.on_conflict_do_nothing(index_elements=keys), rows)


def due(tx: Tx, now: datetime, limit: int = 50) -> list[sa.Row]:
    """Alerts neither sent nor given up on whose next try is due, oldest first."""
    due_now = sa.or_(alerts.c.next_try_at.is_(None), alerts.c.next_try_at <= now)
    return list(tx.conn.execute(sa.select(alerts).where(_NOT_DONE, due_now).order_by(alerts.c.id).limit(limit)))


def claim(tx: Tx, alert_id: int, now: datetime, until: datetime) -> bool:
    """Take a due alert for one attempt; False when another process took it first. Until ``until``
    nobody else will (if this process dies while sending, it is tried again after that)."""
    due_now = sa.or_(alerts.c.next_try_at.is_(None), alerts.c.next_try_at <= now)
    done = tx.conn.execute(alerts.update().where(alerts.c.id == alert_id, _NOT_DONE, due_now).values(next_try_at=until))
    return done.rowcount == 1


def update(tx: Tx, alert_id: int, **values: Any) -> None:
    """Record how an attempt went."""
    tx.conn.execute(alerts.update().where(alerts.c.id == alert_id).values(**values))


def given_up(tx: Tx, limit: int = 200) -> list[sa.Row]:
    """Alerts given up on, newest first (admins see them)."""
    query = sa.select(alerts).where(alerts.c.gave_up_at.isnot(None)).order_by(alerts.c.id.desc()).limit(limit)
    return list(tx.conn.execute(query))


def of_intake(tx: Tx, intake_id: int) -> list[sa.Row]:
    """An intake's alerts, in the order they were queued."""
    return list(tx.conn.execute(sa.select(alerts).where(alerts.c.intake_id == intake_id).order_by(alerts.c.id)))


def sent(tx: Tx, alert_id: int, at: datetime) -> None:
    """Record an alert as sent; once its intake has been erased the row goes (it has done its work)."""
    update(tx, alert_id, sent_at=at, last_error=None)
    orphan = ~sa.exists().where(intakes.c.id == alerts.c.intake_id)
    tx.conn.execute(alerts.delete().where(alerts.c.id == alert_id, orphan))
