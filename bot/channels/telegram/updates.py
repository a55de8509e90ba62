"""Telegram updates -> (Chat, Event): what a person did, in the terms of ``events.py``."""

from __future__ import annotations

from telegram import Message, Update

from bot.channels.telegram.events import Chat, Event, EventKind
from bot.channels.typed_text import clean

#: Message contents that are not text, in the order they are looked for.
OTHER_KINDS = (
    "sticker",
    "photo",
    "voice",
    "video",
    "video_note",
    "audio",
    "animation",
    "document",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
)
ALLOWED_UPDATES = ["message", "callback_query"]


def parse_update(update: Update) -> tuple[Chat, Event] | None:
    """The person and their action; None for updates the bot does not act on."""
    query = update.callback_query
    if query is not None:
        message = query.message if isinstance(query.message, Message) else None
        user = query.from_user
        chat_id = message.chat.id if message is not None else user.id
        if message is not None and message.chat.type != "private":
            return None
        label = _button_label(message, query.data)
        chat = Chat(chat_id, user.id, user.first_name, user.last_name, user.username, user.language_code)
        message_id = message.message_id if message is not None else None
        return chat, Event(EventKind.PRESS, data=query.data, label=label, message_id=message_id, origin=f"q{query.id}")
    message = update.message
    if message is None or message.chat.type != "private":  # health data has no place in a group
        return None
    user = message.from_user
    chat = Chat(
        message.chat.id,
        user.id if user else None,
        user.first_name if user else None,
        user.last_name if user else None,
        user.username if user else None,
        user.language_code if user else None,
    )
    origin = f"m{message.message_id}"
    text = clean(message.text) if message.text is not None else None
    if text is not None:
        if text.startswith("/"):
            head, _, rest = text.partition(" ")
            command = head[1:].split("@", 1)[0].lower()
            return chat, Event(EventKind.COMMAND, text=rest.strip(), command=command, origin=origin)
        return chat, Event(EventKind.TEXT, text=text, origin=origin)
    what = next((kind for kind in OTHER_KINDS if getattr(message, kind, None)), "message")
    caption = clean(message.caption) if message.caption else ""  # read by the safety screen, kept only if it meets one
    return chat, Event(EventKind.OTHER, what=what, origin=origin, text=caption)


def _button_label(message: Message | None, data: str | None) -> str:
    markup = message.reply_markup if message is not None else None
    if markup is None:
        return ""
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return ""
