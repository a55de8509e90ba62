"""A reply to send: one typed value, and the one place it becomes a Bot API call.

Turns decide replies as ``Reply`` values; a stored reply is its ``payload()`` (JSON in the
outbox) and comes back with ``Reply.from_payload``. Both the outbox and the replies sent without
storing them (after /delete, an apology) hand a ``Reply`` to ``deliver``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.warnings import PTBUserWarning

# do_api_request asks to use the named method instead; these calls skip it on purpose (deliver).
warnings.filterwarnings("ignore", message="Please use 'Bot.", category=PTBUserWarning)

Button = dict[str, str]  # {"text": ..., "data": ...} or {"text": ..., "url": ...}
Keyboard = list[list[Button]]


class ReplyOp(StrEnum):
    SEND = "send"  # a new message, with its keyboard
    EDIT = "edit"  # replace a sent message's text (and take its keyboard off)
    MARKUP = "markup"  # replace a sent message's keyboard (None: take it off)
    #: a copy of an intake's answers as a PDF, made when it is sent: the outbox keeps no health
    #: data beyond the turn's words, and a copy asked for before /delete is never made after it
    COPY = "copy"


@dataclass(frozen=True)
class Reply:
    op: ReplyOp
    text: str = ""
    keyboard: Keyboard | None = None
    #: for an edit: the outbox row of the message to edit (its Telegram id is known once sent) ...
    target: int | None = None
    #: ... or Telegram's id of it, when the turn knows it (the message whose button was pressed)
    message_id: int | None = None
    #: for a copy: the intake whose answers it holds
    intake: int | None = None

    def payload(self) -> dict[str, Any]:
        """The stored form (the outbox's JSON): the keys Telegram's calls need, and no more."""
        if self.op == ReplyOp.SEND:
            return {"op": "send", "text": self.text, "keyboard": self.keyboard}
        if self.op == ReplyOp.EDIT:
            return {"op": "edit", "text": self.text, "target": self.target, "message_id": self.message_id}
        if self.op == ReplyOp.COPY:
            return {"op": "copy", "text": self.text, "intake": self.intake}
        return {"op": "markup", "keyboard": self.keyboard, "target": self.target, "message_id": self.message_id}

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Reply:
        return cls(
            ReplyOp(data["op"]),
            data.get("text") or "",
            data.get("keyboard"),
            data.get("target"),
            data.get("message_id"),
            data.get("intake"),
        )


def markup(keyboard: Keyboard | None) -> InlineKeyboardMarkup | None:
    if not keyboard:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(b["text"], url=b["url"])
                if "url" in b
                else InlineKeyboardButton(b["text"], callback_data=b["data"])
                for b in row
            ]
            for row in keyboard
        ]
    )


@dataclass(frozen=True)
class Document:
    """A file to send: its name as the person sees it, and its bytes."""

    name: str
    data: bytes


async def deliver(
    bot: Bot, chat_id: int, reply: Reply, message_id: int | None = None, document: Document | None = None
) -> int | None:
    """Make the Bot API call for ``reply``; Telegram's id of the message sent (None for an edit).

    A copy goes as ``document`` (made by the caller: see ``copies.py``), its text the caption.

    An edit needs Telegram's id of the message (``message_id``, else the reply's own): without
    one, the message to edit never went out, and there is nothing to change.

    The calls go through ``do_api_request`` (python-telegram-bot's own, with its rate limiter
    and errors) without a return type: the bot needs only the new message's id, and turning
    Telegram's answer into a ``Message`` object cost more than the rest of the reply's path.
    """
    if reply.op == ReplyOp.SEND:
        sent = await bot.do_api_request(
            "sendMessage", {"chat_id": chat_id, "text": reply.text, "reply_markup": markup(reply.keyboard)}
        )
        return sent["message_id"]
    if reply.op == ReplyOp.COPY:
        if document is None:
            return None
        sent = await bot.do_api_request(
            "sendDocument",
            {
                "chat_id": chat_id,
                "document": InputFile(document.data, filename=document.name),
                "caption": reply.text or None,
            },
        )
        return sent["message_id"]
    message_id = message_id if message_id is not None else reply.message_id
    if message_id is None:
        return None
    if reply.op == ReplyOp.EDIT:
        await bot.do_api_request("editMessageText", {"chat_id": chat_id, "message_id": message_id, "text": reply.text})
    else:
        await bot.do_api_request(
            "editMessageReplyMarkup",
            {"chat_id": chat_id, "message_id": message_id, "reply_markup": markup(reply.keyboard)},
        )
    return None
