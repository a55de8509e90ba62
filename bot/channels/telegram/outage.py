"""Chats whose turns fail because the database does: when to tell the person to wait, once.

A turn that fails for the database leaves its update unconfirmed, and Telegram sends it again
until the database answers. Meanwhile the channel answers the chat's button presses at once (no
spinning button) and, at the first failure after WAIT_NOTICE_AFTER seconds of them, tells the
person once that their message is safe. Kept in memory only: the database is what is down.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Seconds a chat's turns may keep failing before the person hears their message is safe: a blip
#: passes unnoticed, an outage does not leave them in silence.
WAIT_NOTICE_AFTER = 3.0
#: A chat whose turns have not failed for this long is out of trouble: its next failure begins
#: another outage, with its own notice.
FORGOTTEN_AFTER = 60.0
#: Chats remembered at most (the oldest failure forgotten first).
REMEMBERED = 10_000


class Outages:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._chats: dict[int, tuple[float, float, bool]] = {}  # chat -> (since, last failure, told)

    def in_trouble(self, chat_id: int) -> bool:
        """Whether the chat's turns failed for the database lately (an old entry is dropped)."""
        entry = self._chats.get(chat_id)
        if entry is not None and self.clock() - entry[1] > FORGOTTEN_AFTER:
            del self._chats[chat_id]
            return False
        return entry is not None

    def failed(self, chat_id: int) -> bool:
        """Another failure of the chat's turn; True when the person is to be told to wait (once)."""
        now = self.clock()
        since, _, told = self._chats.pop(chat_id) if self.in_trouble(chat_id) else (now, now, False)
        due = not told and now - since >= WAIT_NOTICE_AFTER
        self._chats[chat_id] = (since, now, told or due)  # the newest last
        if len(self._chats) > REMEMBERED:
            del self._chats[next(iter(self._chats))]
        return due

    def cleared(self, chat_id: int) -> None:
        """A turn of the chat went through: out of trouble."""
        self._chats.pop(chat_id, None)

    def __len__(self) -> int:
        return len(self._chats)
