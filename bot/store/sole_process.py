"""SQLite serves one long-running process: a second ``serve`` or ``run`` on the same file is refused.

Two bot processes on one SQLite file would each believe they are alone: each polls Telegram, each
sends its outbox, each runs the jobs (two reminders to one patient). PostgreSQL is the engine for
several processes (advisory locks share the work out: ``bot.store.advisory``); on SQLite the
first long-running process takes an exclusive OS lock on a file beside the database
(``<database>.lock``, holding its process id for the message) and keeps it for its life. The
operating system lets go of it when the process ends, however it ends, so a killed process never
leaves a stale lock behind. The command line's short commands (export, purge, staff, validate)
take no lock: SQLite lets them work beside the running process.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from bot.errors import UserError


class AlreadyServed(UserError):
    """Another process serves this SQLite file."""


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


def hold(url: str) -> IO[str] | None:
    """Take the lock for the SQLite file of ``url`` for as long as the returned file stays open
    (the process's life); None for PostgreSQL or a database in memory. AlreadyServed, in one
    line, when another process holds it."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///")
    if path in ("", ":memory:") or path.startswith("file:"):
        return None
    try:
        import fcntl
    except ImportError:  # not a POSIX system: nothing to lock with
        return None
    database = Path(path)
    database.parent.mkdir(parents=True, exist_ok=True)
    lock = lock_path(database)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    handle = os.fdopen(fd, "r+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = handle.read().strip()
        handle.close()
        who = f" (process {holder})" if holder.isdigit() else ""
        raise AlreadyServed(
            f"another bot process{who} is running on {database}: SQLite serves one process "
            "(stop that one first, or use PostgreSQL in DATABASE_URL to run several)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
