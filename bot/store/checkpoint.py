"""SQLite's checkpoints from a thread of their own, off the bot's event loop.

In WAL mode a commit only appends to the log; from time to time the log is copied back into the
database file (a checkpoint), and with ``synchronous=NORMAL`` that is when SQLite waits for the
disk (two fsyncs). By default the connection whose commit passes 1,000 pages of log does it, in
the middle of a turn, and the event loop (every chat) waits with it. A long-running process
(the bot) checkpoints from this thread instead: sqlite3 lets go of the GIL while SQLite works, so
the turns go on meanwhile. The connections keep a far higher automatic checkpoint as a safety net
in case this thread falls behind.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

#: Pages of log after which a committing connection checkpoints itself after all (about 40 MB).
SAFETY_NET_PAGES = 10_000


class Checkpointer:
    """Every ``interval`` seconds, a passive checkpoint: it never blocks a writer or a reader."""

    def __init__(self, path: str, interval: float = 0.5):
        self.path = path
        self.interval = interval
        self.checkpoints = 0  # how many ran (tests)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop, after one last checkpoint."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        try:
            # the same file the store opened, also when its URL names it as a file: URI
            connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, uri=self.path.startswith("file:")
            )
        except sqlite3.Error as err:  # the committing connections' safety net checkpoints instead
            log.warning("checkpoints stay with the connections: %s", err)
            return
        try:
            connection.execute("PRAGMA busy_timeout=10000")
            while not self._stop.wait(self.interval):
                self._checkpoint(connection)
            self._checkpoint(connection)
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            # (busy, pages in the log, pages copied back): a reader still on old pages leaves
            # some for the next round; a passive checkpoint never waits for it
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.checkpoints += not busy
        except sqlite3.Error as err:  # the disk, say: the next round (or the safety net) catches up
            log.warning("checkpoint failed: %s", err)
