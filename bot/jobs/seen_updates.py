"""Forgetting the Telegram updates seen before the redelivery window, hourly.

A turn refuses an update this bot applied within ``UPDATE_WINDOW`` (a redelivery) whether or not
the old rows were swept; sweeping only keeps ``telegram_updates`` small.
"""

from __future__ import annotations

import asyncio
import logging

from bot.store import Store, utcnow

log = logging.getLogger(__name__)

HOUR = 3600.0


class SeenUpdates:
    name = "seen_updates"

    def __init__(self, store: Store):
        self.store = store

    def interval(self) -> float:
        return HOUR

    def first_delay(self) -> float:
        return 60.0  # not in the rush of a start-up's backlog

    def forget_old(self) -> int:
        with self.store.transaction() as tx:
            return tx.forget_updates(utcnow())

    async def round(self) -> None:
        forgotten = await asyncio.to_thread(self.forget_old)  # off the event loop
        if forgotten:
            log.debug("forgot %d update(s) seen before the redelivery window", forgotten)

    async def close(self) -> None:
        return None
