"""Retention: intakes with no activity for RETENTION_DAYS are erased, at start and then daily."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from bot.store import Store, utcnow

log = logging.getLogger(__name__)

DAY = 24 * 3600.0
#: Intakes erased per transaction.
BATCH = 200
PAUSE = 0.02


class Retention:
    name = "retention"

    def __init__(self, store: Store, days: int):
        self.store = store
        self.days = days

    def interval(self) -> float:
        return DAY

    def first_delay(self) -> float:
        return 0.0  # at start, then daily

    def erase_due(self) -> int:
        """Erase what is due now, BATCH intakes to a transaction; how many went.

        On SQLite a write holds the one write lock, and the patients' turns wait for it: a year of
        intakes erased in one transaction (their pages overwritten) would hold it for seconds.
        """
        cutoff = utcnow() - timedelta(days=self.days)
        erased = 0
        while True:
            with self.store.transaction() as tx:
                done = tx.purge_before(cutoff, limit=BATCH)
            erased += done
            if done < BATCH:
                return erased
            time.sleep(PAUSE)  # SQLite's lock is not fair: let the patients' commits in between

    async def round(self) -> None:
        erased = await asyncio.to_thread(self.erase_due)  # off the event loop: patients' turns go on
        if erased:
            log.info("retention: erased %d intake(s)", erased)

    async def close(self) -> None:
        return None
