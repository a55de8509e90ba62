"""PostgreSQL advisory locks: what exactly one of several processes on one database does.

Several workers on one PostgreSQL database use it as their meeting point, without a table of
their own (and without a migration):

- the migrations run in one process while the others wait (``for_transaction``, taken by
  ``Store.migrate``: released by the commit, so a waiter then finds the schema current);
- each background job's round runs in one process at a time (``bot.jobs``: ``try_take`` before a
  round, ``release`` after it; another process meanwhile skips that round);
- one polling process holds the lead and polls Telegram, the others stand by (``bot.lead``).

The session-level locks (the last two) belong to the connection that took them, so they are held
by a connection of their own (``LockSession``), made for this and outside SQLAlchemy's pool: a
pooled connection goes back to other work. A process that dies closes its connection and
PostgreSQL lets go of its locks at once (a host that vanishes without closing: once PostgreSQL's
TCP keepalive gives up on it, ``tcp_keepalives_*`` on the server). A process whose lock connection
breaks has lost its locks: ``keep`` tells the lead whether it has it back or must step down.

A key is two int4 (``pg_try_advisory_lock(int, int)``): ``SPACE`` says the lock is this bot's,
the second number names what (a CRC-32 of a name such as ``job:retention``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import zlib
from typing import Any

import sqlalchemy as sa

log = logging.getLogger(__name__)

#: The first half of every key: b"skin" as a number, so that other users of advisory locks on the
#: same database (an extension, another application) cannot collide with ours by accident.
SPACE = int.from_bytes(b"skin", "big")
#: Seconds a lock connection waits for PostgreSQL to answer a connect before giving up (the round
#: is skipped; the next one tries again).
CONNECT_TIMEOUT = 5


def key(name: str) -> tuple[int, int]:
    """The two int4 of ``name``'s lock."""
    crc = zlib.crc32(name.encode())
    return SPACE, crc - (1 << 32) if crc >= 1 << 31 else crc


def for_transaction(conn: sa.Connection, name: str) -> bool:
    """Take ``name``'s lock until the connection's transaction ends, waiting for it if another
    session holds it; False if it had to wait (another process did the work meanwhile)."""
    space, number = key(name)
    params = {"space": space, "number": number}
    if conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(:space, :number)"), params).scalar():
        return True
    log.info("another process holds %s: waiting for it", name)
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:space, :number)"), params)
    return False


class LockSession:
    """A PostgreSQL connection of this process's own, holding its session-level advisory locks.

    Thread-safe (the jobs and the lead call it from worker threads); every call is short. A
    failing connection is dropped with every lock it held, and made again at the next call.
    """

    def __init__(self, url: sa.URL):
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._conn: Any = None
        self._mutex = threading.Lock()
        self._held: set[str] = set()
        self._failing = False  # the last statement failed (said once in the log)

    @classmethod
    def of(cls, store: Any) -> LockSession | None:
        """For a store on PostgreSQL; None on SQLite (one process: nothing to share)."""
        return cls(store.engine.url) if store.engine.dialect.name == "postgresql" else None

    def _connection(self) -> Any:
        if self._conn is None:
            import psycopg

            self._conn = psycopg.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT,
                application_name="intake-bot locks",
                # A network that drops the connection silently is found out, and the locks given up.
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
            )
        return self._conn

    def _ask(self, sql: str, name: str | None = None) -> Any:
        """One statement on the lock connection (the mutex held); the connection and every lock
        it held are dropped if it fails."""
        import psycopg

        try:
            conn = self._connection()
            answer = conn.execute(sql, key(name) if name is not None else None).fetchone()[0]
        except psycopg.Error as err:
            if self._held:
                log.warning("the database connection holding %s broke: %s", ", ".join(sorted(self._held)), _line(err))
            elif not self._failing:  # said once: the jobs' rounds would otherwise be skipped in silence
                log.warning("the lock connection cannot reach the database (jobs wait for it): %s", _line(err))
            self._failing = True
            self._drop()
            raise
        if self._failing:
            log.info("the lock connection reaches the database again")
            self._failing = False
        return answer

    def _drop(self) -> None:
        self._held.clear()
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection: nothing to learn
                self._conn.close()
            self._conn = None

    def try_take(self, name: str) -> bool:
        """Take ``name``'s lock if nobody holds it; False when another process does, or the
        database cannot be asked (the caller skips its work this time)."""
        import psycopg

        with self._mutex:
            if name in self._held:
                return True  # session locks count up: taking one twice would need two releases
            try:
                taken = bool(self._ask("SELECT pg_try_advisory_lock(%s, %s)", name))
            except psycopg.Error:
                return False
            if taken:
                self._held.add(name)
            return taken

    def release(self, name: str) -> None:
        import psycopg

        with self._mutex:
            if name not in self._held:
                return
            self._held.discard(name)
            try:
                if not self._ask("SELECT pg_advisory_unlock(%s, %s)", name):
                    log.warning("%s was not held any more when released", name)
            except psycopg.Error:
                pass  # the connection went, and the lock with it

    def keep(self, name: str) -> bool | None:
        """Make sure this process holds ``name``'s lock: True when it does (still, or again after
        its connection broke), False when another process holds it now, None when the database
        cannot be asked (an outage: nobody can take it meanwhile, unless only this process's
        connection is cut)."""
        import psycopg

        with self._mutex:
            if name in self._held:
                try:
                    self._ask("SELECT 1")  # alive: the lock is still ours
                    return True
                except psycopg.Error:
                    pass  # dropped, with its locks: ask again on a new connection
            try:
                taken = bool(self._ask("SELECT pg_try_advisory_lock(%s, %s)", name))
            except psycopg.Error:
                return None
            if taken:
                self._held.add(name)
            return taken

    def mark(self, space: int, number: int) -> set[int]:
        """Hold ``(space, number)`` shared for as long as this session lasts, and return the numbers
        in ``space`` that any session on this database holds now (this one's among them): how
        workers say something of themselves to each other, such as a fingerprint of their key.
        ``number`` from 0 to 2**31 - 1."""
        with self._mutex:
            conn = self._connection()
            conn.execute("SELECT pg_advisory_lock_shared(%s, %s)", (space, number))
            rows = conn.execute(
                "SELECT DISTINCT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND objsubid = 2 AND classid = %s::bigint::oid "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                (space,),
            ).fetchall()
            return {number for (number,) in rows}

    def close(self) -> None:
        """Let go of every lock (closing the connection does)."""
        with self._mutex:
            self._drop()


def _line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
