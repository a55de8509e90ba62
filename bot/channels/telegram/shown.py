"""What the bot's recent messages show now (text and keyboard), as far as this process knows.

An edit that would leave a message as it already is gets "message is not modified" from Telegram:
a wasted call against the bot's rate limit (hundreds of them under random input, most from a
button pressed twice, or a stale button whose keyboard is already gone). The outbox asks here
first and skips such an edit. What is not known (a message sent before a restart, or forgotten)
is edited as before: Telegram's refusal is harmless.
"""

from __future__ import annotations

from bot.channels.telegram.replies import Keyboard, Reply, ReplyOp

#: Messages remembered (the oldest forgotten first): a few hours of a busy bot's prompts.
REMEMBERED = 20_000
_UNKNOWN = object()


class ShownMessages:
    def __init__(self, remembered: int = REMEMBERED):
        self.remembered = remembered
        self._shown: dict[tuple[int, int], tuple[object, Keyboard | None]] = {}  # (chat, message) -> (text, keyboard)

    def changes(self, chat_id: int, message_id: int, reply: Reply) -> bool:
        """Whether the edit ``reply`` of that message would change what it shows."""
        shown = self._shown.get((chat_id, message_id))
        if shown is None:
            return True
        text, keyboard = shown
        if reply.op == ReplyOp.MARKUP:
            return (keyboard or None) != (reply.keyboard or None)
        return text != reply.text or keyboard is not None  # an edit of the text takes the keyboard off

    def record(self, chat_id: int, message_id: int, reply: Reply) -> None:
        """``reply`` went out (or Telegram said the message already showed it)."""
        key = (chat_id, message_id)
        if reply.op == ReplyOp.MARKUP:
            text = self._shown.get(key, (_UNKNOWN, None))[0]
            shown = (text, reply.keyboard or None)
        else:  # a new message with its keyboard, or new text without one
            shown = (reply.text, (reply.keyboard or None) if reply.op == ReplyOp.SEND else None)
        self._shown.pop(key, None)  # the newest last: dicts keep their order
        self._shown[key] = shown
        if len(self._shown) > self.remembered:
            del self._shown[next(iter(self._shown))]

    def __len__(self) -> int:
        return len(self._shown)
