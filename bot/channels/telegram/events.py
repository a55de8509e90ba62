"""What a person did on Telegram, in the channel's own terms: who (``Chat``) and what (``Event``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EventKind(StrEnum):
    TEXT = "text"  # typed text that is not a command
    COMMAND = "command"  # /start, /back, ...
    PRESS = "press"  # a button of one of the bot's messages
    OTHER = "other"  # a sticker, photo, voice message, location...


@dataclass(frozen=True)
class Chat:
    """Who wrote: a private chat and its Telegram user."""

    id: int
    user_id: int | None = None
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


@dataclass(frozen=True)
class Event:
    """What the person did: typed text, a command, a button press, or sent something else."""

    kind: EventKind
    text: str = ""  # the typed text, a command's argument, or (OTHER) a caption
    command: str = ""  # without the slash, lower-case
    data: str | None = None  # callback data of a pressed button
    label: str = ""  # the pressed button's text, for the transcript
    message_id: int | None = None  # the message whose button was pressed
    what: str = ""  # for OTHER: sticker, photo, voice, ...
    #: Telegram's own id of what the person sent (the message's, or the button press's): a
    #: redelivered update carries the same, a new update that reuses a number does not
    origin: str = ""
