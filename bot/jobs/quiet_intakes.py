"""Quiet intakes: one reminder after REMIND_AFTER without an answer, abandoned after ABANDON_AFTER.

Both are kept as data (``updated_at``, ``reminded_at``), so a restart loses neither. Marking an
intake abandoned needs only the store; a reminder is a message, so it is sent only when a channel
that can deliver it runs in this process (it is handed in as ``remind``): a reminder queued
with nobody to send it would reach the patient out of the blue whenever the bot next starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.store import Intake, Store, utcnow

log = logging.getLogger(__name__)

#: Send one reminder to this intake, quiet since the given time (the channel re-checks it).
Remind = Callable[[Intake, datetime], Awaitable[None]]


class QuietIntakes:
    name = "quiet-intakes"

    def __init__(
        self,
        store: Store,
        remind_after: float,
        abandon_after: float,
        remind: Remind | None = None,
        on_abandoned: Callable[[], None] | None = None,
    ):
        self.store = store
        # Several workers take turns at a job's rounds by its name (``bot.jobs``): a worker that
        # cannot remind (no Telegram) must not take a reminding worker's turn.
        self.name = "quiet-intakes" if remind is not None else "abandonment"
        self.remind_after = timedelta(seconds=remind_after)
        self.abandon_after = timedelta(seconds=abandon_after)
        self.remind = remind
        #: told when intakes were marked abandoned (a channel drops the copies it keeps in memory)
        self.on_abandoned = on_abandoned
        self._interval = max(0.5, min(60.0, remind_after / 4, abandon_after / 4))

    def interval(self) -> float:
        return self._interval

    def first_delay(self) -> float:
        # Not at start: the updates that waited at Telegram while the process was down are
        # applied first, so nobody whose answer is on its way gets a reminder before it.
        return self._interval

    async def round(self) -> None:
        now = utcnow()
        if self.remind is not None and self.remind_after < self.abandon_after:
            quiet_since = now - self.remind_after
            for intake in await asyncio.to_thread(self._quiet, quiet_since):
                await self.remind(intake, quiet_since)
        abandoned = await asyncio.to_thread(self._abandon, now - self.abandon_after)
        if abandoned:
            if self.on_abandoned is not None:
                self.on_abandoned()
            log.info("%d intake(s) marked abandoned", abandoned)

    def _quiet(self, since: datetime) -> list[Intake]:
        with self.store.transaction(read_only=True) as tx:
            return tx.quiet_intakes(since)

    def _abandon(self, before: datetime) -> int:
        with self.store.transaction() as tx:
            return tx.abandon(before)

    async def close(self) -> None:
        return None
