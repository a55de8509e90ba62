"""Rebuilding a table on SQLite (its way to change one) without handing out erased rows' ids again.

A rebuild copies the rows into a new table, and SQLite sets the copy's AUTOINCREMENT counter to
the highest id left: the ids of the newest rows erased before the rebuild would come back. The
counter is carried over. PostgreSQL alters tables in place: the rebuild is a plain batch there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic import op
from alembic.operations import BatchOperations


@contextmanager
def rebuilt(table: str, **batch: Any) -> Iterator[BatchOperations]:
    """``op.batch_alter_table(table)``, rebuilt on SQLite with its id counter kept."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        with op.batch_alter_table(table, **batch) as ops:
            yield ops
        return
    counter = _counter(bind, table)
    with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}, **batch) as ops:
        yield ops
    if counter is not None:
        now = _counter(bind, table) or 0
        bind.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
        bind.exec_driver_sql("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, max(counter, now)))


def _counter(bind: Any, table: str) -> int | None:
    return bind.exec_driver_sql("SELECT max(seq) FROM sqlite_sequence WHERE name = ?", (table,)).scalar()
