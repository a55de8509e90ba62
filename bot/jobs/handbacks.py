"""Talks staff handed back to the questionnaire: the bot shows each patient their question again.

Staff end a talk with "Hand back" in the store only (the staff app never reaches a channel); this
job, in the process that runs the Telegram channel, finds those talks every second and has the
channel run a turn that shows the question (``TelegramChannel.hand_back``), noted in the talk so
that it is shown once. Kept as data: a restart in between loses nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.store import Store, talks

#: Show the question again for (talk, intake, chat).
HandBack = Callable[[int, int, int], Awaitable[None]]


class HandBacks:
    name = "handbacks"

    def __init__(self, store: Store, hand_back: HandBack, every: float = 1.0):
        self.store = store
        self.hand_back = hand_back
        self.every = every

    def interval(self) -> float:
        return self.every

    def first_delay(self) -> float:
        return self.every

    def _due(self) -> list[tuple[int, int, int]]:
        with self.store.transaction(read_only=True) as tx:
            return talks.due_handbacks(tx)

    async def round(self) -> None:
        for talk_id, intake_id, chat_id in await asyncio.to_thread(self._due):
            await self.hand_back(talk_id, intake_id, chat_id)

    async def close(self) -> None:
        return None
