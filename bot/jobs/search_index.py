"""Rewriting SQLite's search index daily, so that erased intakes leave no trace in it.

Erasing an intake deletes its search text (``intake_search``) and, by trigger, takes it out of the
FTS5 index at once: it is never found again. FTS5 records a deletion as a marker in a new segment,
though; the trigrams of the erased name stay in the older segment's pages until segments are
merged. ``optimize`` merges them all into one, without what was deleted (0.2 s at 100,000 intakes,
holding SQLite's write lock meanwhile: once a day, on this job's thread). PostgreSQL needs nothing:
its autovacuum clears dead index entries.
"""

from __future__ import annotations

import asyncio
import logging

from bot.store import Store
from bot.store.search_index import compact

log = logging.getLogger(__name__)

DAY = 24 * 3600.0


class SearchIndex:
    name = "search_index"

    def __init__(self, store: Store):
        self.store = store

    def interval(self) -> float:
        return DAY

    def first_delay(self) -> float:
        return 3600.0  # not in the rush of a start-up, nor right after retention's first round

    def compact(self) -> None:
        with self.store.transaction() as tx:
            compact(tx.conn)

    async def round(self) -> None:
        await asyncio.to_thread(self.compact)  # off the event loop

    async def close(self) -> None:
        return None
