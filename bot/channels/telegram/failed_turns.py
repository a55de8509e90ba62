"""When to give up on an update whose turn keeps failing.

An update is confirmed to Telegram only once its turn is committed, so a turn that raises leaves it
to come again. That is right for database trouble, which heals; but an update that triggers a bug
would come again forever: in polling mode its chat would be stuck, behind a webhook every chat
(Telegram delivers in order). So an update whose turn fails for any other reason is given up on
after a few runs: the patient hears so and the update is confirmed.
"""

from __future__ import annotations

import logging
import sqlite3

import sqlalchemy.exc

from bot.failures import log_failure
from bot.store import Stale, StoreError

log = logging.getLogger(__name__)

#: Runs of a turn that keeps raising something other than a database problem before the update
#: is given up on (answered with an apology and confirmed): one more run rarely helps a bug, but
#: a race with another process can heal.
MAX_TURN_FAILURES = 3
#: Updates whose failures are remembered (a webhook that gave up never sends its update again).
REMEMBERED = 10_000
#: Database trouble that heals (the server is down or busy, a connection broke): an update that
#: met it is left unconfirmed and comes again. Other errors from a driver (a value PostgreSQL
#: refuses, say) belong to that update and count as its failures.
STORE_TROUBLE: tuple[type[BaseException], ...] = (
    StoreError,
    Stale,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,
    sqlite3.OperationalError,
    sqlite3.InterfaceError,
)
try:
    import psycopg

    STORE_TROUBLE += (psycopg.OperationalError, psycopg.InterfaceError)
except ImportError:  # pragma: no cover - installed with the project, needed only for PostgreSQL
    psycopg = None  # type: ignore[assignment]


_UPDATES_FAULT = ("DataError", "IntegrityError", "ProgrammingError")


def is_store_trouble(err: BaseException) -> bool:
    """Whether ``err`` is the database's trouble rather than this update's: a connection or
    server problem, a read-only or failed-over server, a transaction that cannot go on. Of a
    database's errors only a refused value (DataError, IntegrityError) or statement
    (ProgrammingError) belongs to the update, whichever driver raised it."""
    if isinstance(err, STORE_TROUBLE):
        return True
    database_error = isinstance(err, (sqlalchemy.exc.SQLAlchemyError, sqlite3.DatabaseError)) or (
        psycopg is not None and isinstance(err, psycopg.DatabaseError)
    )
    return database_error and not any(kind.__name__ in _UPDATES_FAULT for kind in type(err).__mro__)


class FailedTurns:
    """Failed runs of each update's turn, in memory (a restart gives every update a fresh start)."""

    def __init__(self) -> None:
        self._runs: dict[int, int] = {}

    def give_up(self, update_id: int, err: Exception) -> bool:
        """Whether to confirm an update whose turn raised ``err`` without applying it.

        Never for database trouble: the update comes again until the database answers. Anything
        else after MAX_TURN_FAILURES runs. Only the exception's type is logged: its text can
        quote the patient.
        """
        if is_store_trouble(err):
            log_failure(log, f"turn for update {update_id} failed (database); it comes again", err, logging.WARNING)
            return False
        failures = self._runs.pop(update_id, 0) + 1
        if failures < MAX_TURN_FAILURES:
            self._runs[update_id] = failures
            if len(self._runs) > REMEMBERED:
                del self._runs[next(iter(self._runs))]
            log_failure(log, f"turn for update {update_id} failed ({failures} of {MAX_TURN_FAILURES})", err)
            return False
        log_failure(log, f"turn for update {update_id} failed {failures} times; skipped, the patient was told", err)
        return True

    def forget(self, update_id: int) -> None:
        """The update's turn went through after all."""
        self._runs.pop(update_id, None)

    def __len__(self) -> int:
        return len(self._runs)
