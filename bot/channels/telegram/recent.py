"""The intakes of recently active chats, kept in memory between their turns."""

from __future__ import annotations

from bot.engine.conversation import Conversation
from bot.store import Intake


class Recent:
    """Recently active chats' intakes as their last committed turn left them (with the conversation).

    The next turn of the chat then needs neither to read the intake nor to parse its state: it
    takes the entry and puts it back only once its own transaction has committed. Whether the
    store moved on meanwhile (an intake marked abandoned or erased by another process) is checked
    by the turn's own write (``Tx.save_intake`` compares the version); if it did, or if the turn
    fails in any way, the turn is rolled back and run again from what the store holds.
    """

    def __init__(self, size: int = 10_000):
        self.size = size
        self._entries: dict[int, tuple[Intake, Conversation]] = {}

    def take(self, chat_id: int) -> tuple[Intake, Conversation] | None:
        return self._entries.pop(chat_id, None)

    def put(self, chat_id: int, intake: Intake, conv: Conversation) -> None:
        entries = self._entries
        entries[chat_id] = (intake, conv)
        if len(entries) > self.size:
            del entries[next(iter(entries))]  # the least recently active: dicts keep their order

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
