"""Failed logins counted per key: the rows behind ``bot.staff.throttle``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from bot.store.schema import login_throttle
from bot.store.store import Tx


def lock_rows(tx: Tx, keys: dict[str, str | None], now: datetime) -> dict[str, sa.Row]:
    """The rows of ``keys`` (key digest -> name digest or None), made when missing, and locked
    until the transaction ends, so that two attempts at once (threads or processes) count one
    after the other. Always in the keys' order, so that two attempts never wait for each other."""
    insert = (postgresql if tx.conn.dialect.name == "postgresql" else sqlite).insert(login_throttle)
    for key in sorted(keys):
        tx.conn.execute(
            insert.values(key_hash=key, name_hash=keys[key], failures=0, updated_at=now).on_conflict_do_nothing(
                index_elements=["key_hash"]
            )
        )
    found = tx.conn.execute(
        sa.select(login_throttle)
        .where(login_throttle.c.key_hash.in_(sorted(keys)))
        .order_by(login_throttle.c.key_hash)
        .with_for_update()  # PostgreSQL; SQLite's write transaction holds the whole database
    )
    return {row.key_hash: row for row in found}


def set_count(tx: Tx, key: str, failures: int, locked_until: datetime | None, now: datetime) -> None:
    tx.conn.execute(
        login_throttle.update()
        .where(login_throttle.c.key_hash == key)
        .values(failures=failures, locked_until=locked_until, updated_at=now)
    )


def forget(tx: Tx, keys: Iterable[str]) -> None:
    tx.conn.execute(login_throttle.delete().where(login_throttle.c.key_hash.in_(list(keys))))


def forget_name(tx: Tx, name_hash: str) -> None:
    """Every count that involves this name (a new password was set)."""
    tx.conn.execute(login_throttle.delete().where(login_throttle.c.name_hash == name_hash))


def sweep(tx: Tx, before: datetime) -> None:
    """Forget counts untouched since ``before`` (their locks, far shorter, are over)."""
    tx.conn.execute(login_throttle.delete().where(login_throttle.c.updated_at < before))
