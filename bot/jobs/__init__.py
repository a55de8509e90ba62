"""Background jobs of one process: durable work that runs from what the store holds.

Each job is a round repeated at its own interval (reminders and abandonment, retention, the
completion webhook). The runtime (``bot.runtime``) starts the same jobs whether or not Telegram
is configured: a process serving only the staff app still erases old intakes on time and still
posts completed intakes to the clinic. A failing round is logged by its kind only (what a
patient wrote never reaches a log) and the next round tries again.

Several workers on one PostgreSQL database run the same jobs; each round runs under the job's
advisory lock (``bot.store.advisory``, ``job:<name>``), taken without waiting: while one worker
runs a job's round, the others skip theirs, so the rounds of a job never overlap, whichever
workers are alive. Every job works from what the store holds and marks what it did in the same
transaction (``reminded_at``, ``booking_nudged_at``, a talk's ``prompted_at``, a delivery's or an
alert's ``delivered_at``/``sent_at``), so a round after another worker's finds that work done.
The lock saves the duplicate work; what may never happen twice is also guarded row by row (a
reminder's turn writes under the intake's version check, a webhook delivery and an alert are
claimed before they are sent), for the moment a lock is lost with its connection.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from bot.failures import log_failure
from bot.store.advisory import LockSession

log = logging.getLogger(__name__)
#: Longest a stop waits for the rounds in progress.
STOP_GRACE = 5.0


class Job(Protocol):
    #: for logs and task names
    name: str

    def interval(self) -> float:
        """Seconds between two rounds."""

    def first_delay(self) -> float:
        """Seconds before the first round (0: at start)."""

    async def round(self) -> None:
        """Do what is due now."""

    async def close(self) -> None:
        """Let go of what the job holds (connections); called once, after its last round."""


class Jobs:
    """Runs jobs, each in a task of its own, until ``stop``."""

    def __init__(self, jobs: list[Job], grace: float = STOP_GRACE, locks: LockSession | None = None):
        self.jobs = jobs
        self.grace = grace
        #: PostgreSQL: a round only under its job's lock (None: this process is alone)
        self.locks = locks
        self._tasks: list[asyncio.Task] = []
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._stopping.clear()
        self._tasks = [asyncio.create_task(self._repeat(job), name=f"job:{job.name}") for job in self.jobs]

    async def stop(self) -> None:
        """Stop after the rounds in progress (for up to ``grace`` seconds): a completion webhook
        cancelled while the clinic answered would count as unsent and be posted again."""
        self._stopping.set()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=self.grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for job in self.jobs:
            try:
                await job.close()
            except Exception as err:  # the others still close
                log_failure(log, f"closing job {job.name} failed", err)

    async def _repeat(self, job: Job) -> None:
        if await self._stopped_within(job.first_delay()):
            return
        while True:
            try:
                await self._round(job)
            except Exception as err:  # keep going: the next round tries again
                log_failure(log, f"{job.name} round failed", err)
            if await self._stopped_within(job.interval()):
                return

    async def _round(self, job: Job) -> None:
        """One round, unless another worker runs this job's round right now."""
        if self.locks is None:
            await job.round()
            return
        name = f"job:{job.name}"
        if not await asyncio.to_thread(self.locks.try_take, name):
            return  # another worker's round (or the database cannot be asked: the next round will)
        try:
            await job.round()
        finally:
            await asyncio.to_thread(self.locks.release, name)

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait ``seconds``; True as soon as a stop began."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True
