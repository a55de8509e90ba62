"""Retention: intakes with no activity for RETENTION_DAYS are erased, at start and then daily."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.store import Store, utcnow

log = logging.getLogger(__name__)

DAY = 24 * 3600.0


class Retention:
    name = "retention"

    def __init__(self, store: Store, days: int):
        self.store = store
        self.days = days

    def interval(self) -> float:
        return DAY

    def erase_due(self) -> int:
        """Erase what is due now; how many intakes went."""
        with self.store.transaction() as tx:
            return tx.purge_before(utcnow() - timedelta(days=self.days))

    async def round(self) -> None:
        erased = await asyncio.to_thread(self.erase_due)  # off the event loop: patients' turns go on
        if erased:
            log.info("retention: erased %d intake(s)", erased)

    async def close(self) -> None:
        return None
