"""Background jobs of one process: durable work that runs from what the store holds.

Each job is a round repeated at its own interval (reminders and abandonment, retention, the
completion webhook). The runtime (``bot.runtime``) starts the same jobs whether or not Telegram
is configured: a process serving only the staff app still erases old intakes on time and still
posts completed intakes to the clinic. A failing round is logged by its kind only (what a
patient wrote never reaches a log) and the next round tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from bot.failures import log_failure

log = logging.getLogger(__name__)


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

    def __init__(self, jobs: list[Job]):
        self.jobs = jobs
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._repeat(job), name=f"job:{job.name}") for job in self.jobs]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for job in self.jobs:
            try:
                await job.close()
            except Exception as err:  # the others still close
                log_failure(log, f"closing job {job.name} failed", err)

    async def _repeat(self, job: Job) -> None:
        await asyncio.sleep(job.first_delay())
        while True:
            try:
                await job.round()
            except Exception as err:  # keep going: the next round tries again
                log_failure(log, f"{job.name} round failed", err)
            await asyncio.sleep(job.interval())
