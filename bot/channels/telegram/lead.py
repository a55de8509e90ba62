"""Which of several polling processes polls Telegram: the one that holds the lead.

Telegram serves one ``getUpdates`` consumer at a time (a second one's request ends the first one's
with 409). On PostgreSQL every process in polling mode contends for one advisory lock, ``lead``
(``bot.store.advisory``: a session lock on the process's own lock connection). The one holding it
polls; the others stand by: they serve the staff web app (under ``serve``), send their outbox and
run their share of the jobs, and try for the lead every ``STANDBY_RETRY`` seconds.

When the leader dies its connection closes and PostgreSQL frees the lock at once; a standby takes
it within ``STANDBY_RETRY`` seconds and polls from the first update not confirmed. Nothing is lost
and nothing applied twice: the leader confirmed only updates whose turns were committed, and one
it committed without confirming yet comes again and is refused by its turn (``Tx.claim_update``).
The leader checks every ``HEARTBEAT`` seconds that it still holds the lead. Its lock connection
may break (and the lock with it): it takes the lead again if it can, and stops polling to stand by
if another process holds it now. While the database cannot be asked at all (an outage), it goes on
polling: nobody can take the lead meanwhile, and polling is what answers a patient's button press
and says their message is safe (the turns fail, their updates stay unconfirmed and come again).
If only this process is cut off from the database while a standby takes over, both poll for a
while (Telegram answers 409 to one or the other); the updates this one cannot apply stay
unconfirmed and the other applies them, each once.

On SQLite (one process: ``bot.store.sole_process``) the process polls, with no lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.store.advisory import LockSession

log = logging.getLogger(__name__)

LEAD = "lead"
#: Seconds between a standby's tries for the lead (a dead leader is replaced within this).
STANDBY_RETRY = 2.0
#: Seconds between the leader's checks that it still holds the lead.
HEARTBEAT = 2.0


class Lead:
    def __init__(self, locks: LockSession | None, retry: float = STANDBY_RETRY, heartbeat: float = HEARTBEAT):
        self.locks = locks
        self.retry = retry
        self.heartbeat = heartbeat
        #: True while this process polls, False while it stands by (what /readyz says: leader or
        #: follower); None where there is no contest (SQLite: it polls alone) or not yet
        self.leading: bool | None = None

    async def run(self, poll: Callable[[], Awaitable[None]]) -> None:
        """Poll while holding the lead, stand by otherwise; until cancelled, or until polling
        itself fails (raised here: the runtime stops the process)."""
        if self.locks is None:
            await poll()
            return
        while True:
            if not await asyncio.to_thread(self.locks.try_take, LEAD):
                if self.leading is not False:
                    log.info("another process polls Telegram: standing by, to take over if it stops")
                self.leading = False
                await asyncio.sleep(self.retry)
                continue
            log.info("this process holds the lead: it polls Telegram")
            self.leading = True
            try:
                await self._poll_while_leading(poll)
            finally:
                self.leading = False
            await asyncio.to_thread(self.locks.release, LEAD)  # lost already, most likely
            # A standby that has been trying takes the lead meanwhile: the process whose
            # connection broke is the one to trust less.
            await asyncio.sleep(self.retry)

    async def step_down(self) -> None:
        """Polling was stopped (a clean stop): let go of the lead now, so that a standby takes
        over while this process is still finishing its replies and jobs."""
        self.leading = None
        if self.locks is not None:
            await asyncio.to_thread(self.locks.release, LEAD)

    async def _poll_while_leading(self, poll: Callable[[], Awaitable[None]]) -> None:
        assert self.locks is not None
        polling = asyncio.create_task(poll(), name="telegram-polling-lead")
        cut_off = False  # the database could not be asked at the last heartbeat
        try:
            while True:
                done, _ = await asyncio.wait({polling}, timeout=self.heartbeat)
                if done:
                    polling.result()  # polling ends only by failing: raise it
                    return
                kept = await asyncio.to_thread(self.locks.keep, LEAD)
                if kept is False:
                    log.warning("another process took the lead (this one's database connection broke): standing by")
                    return
                if kept is None and not cut_off:
                    log.warning("the database cannot be asked who leads: polling goes on meanwhile")
                cut_off = kept is None
        finally:
            if not polling.done():
                polling.cancel()
                await asyncio.gather(polling, return_exceptions=True)
