"""One patient driver: a person answering the questionnaire, and what the bot told them.

``Patient`` is the interface every test talks to: ``command`` ("/start website"), ``type`` (a
message), ``tap`` (a button by its label), each optionally with ``expect``, a fragment of a reply
that must come back; ``walk`` plays a scripted route of such steps. It comes in two kinds, because
they differ in what runs the bot:

* ``InProcessPatient`` applies each update straight to a ``TurnRunner`` (the Telegram channel's core,
  in this process, on a real store) and reads the replies from the result and the outbox;
* ``TelegramPatient`` is a person on the fake Telegram server, talking to a running bot process
  (or anything polling or receiving a webhook from the fake), and waits for the bot's messages.
"""

from __future__ import annotations

from typing import Any

from bot.channels.telegram import render
from bot.channels.telegram.events import Chat, Event
from bot.channels.telegram.runner import TurnRunner
from bot.channels.telegram.turn import TurnResult
from support.fake_telegram import FakeTelegram
from support.turns import apply

Step = tuple[str, str, str | None]  # (action, argument, a fragment of the reply or None)

ADA = Chat(42, 42, "Ada", None, "ada", "en")  # the in-process patient, unless a test says otherwise


class Patient:
    """The interface shared by both kinds of patient."""

    def command(self, command: str, expect: str | None = None) -> Any:
        """Send a command such as ``/start website`` (the text after the first space is its argument)."""
        raise NotImplementedError

    def type(self, text: str, expect: str | None = None) -> Any:
        raise NotImplementedError

    def tap(self, label: str, expect: str | None = None) -> Any:
        """Press the button whose label ends with ``label`` on the newest message showing one."""
        raise NotImplementedError

    def walk(self, steps: list[Step]) -> None:
        """Play ``(action, argument, expect)`` steps: ``("tap", "No", "skin infection")``."""
        for action, arg, expect in steps:
            getattr(self, action)(arg, expect=expect)


class InProcessPatient(Patient):
    """Drives turns like Telegram would: numbered updates, presses on the latest keyboard.

    Each action returns the turn's ``TurnResult``; ``expect`` is checked against the replies of
    that one turn (the ones sent at once and the ones stored in the outbox).
    """

    def __init__(self, turns: TurnRunner, chat: Chat = ADA):
        self.turns = turns
        self.chat = chat
        self.update_id = self.chat.id * 1_000_000  # update ids are unique per bot, across chats

    def _apply(self, event: Event, expect: str | None = None) -> TurnResult:
        self.update_id += 1
        result = apply(self.turns, self.update_id, self.chat, event)
        if expect is not None:
            texts = [reply.text for reply in result.direct] + [row.payload.get("text") or "" for row in result.outgoing]
            assert any(expect.casefold() in text.casefold() for text in texts), (expect, texts)
        return result

    def consent(self) -> None:
        """/start, past the welcome, and agree: at the first question."""
        self.command("/start")
        self.tap("Continue")
        self.tap("I agree")

    def type(self, text: str, expect: str | None = None) -> TurnResult:
        return self._apply(Event("text", text=text), expect)

    def command(self, command: str, expect: str | None = None) -> TurnResult:
        name, _, arg = command.removeprefix("/").partition(" ")
        return self._apply(Event("command", command=name, text=arg), expect)

    def tap(self, label: str, expect: str | None = None) -> TurnResult:
        data = self.button(label)
        return self._apply(Event("press", data=data, label=label, message_id=None), expect)

    def send_other(self, what: str) -> TurnResult:
        """Something that is neither text nor a button press: a sticker, a photo, ..."""
        return self._apply(Event("other", what=what))

    def button(self, label: str) -> str:
        for payload in reversed(self.outbox()):
            for row in payload.get("keyboard") or []:
                for button in row:
                    if button["text"].endswith(label) and "data" in button:
                        return button["data"]
        raise AssertionError(f"no button {label!r}")

    def outbox(self) -> list[dict]:
        with self.turns.store.transaction() as tx:
            return [row.payload for row in tx.pending(self.chat.id, limit=1000)]

    def intake(self):
        with self.turns.store.transaction() as tx:
            return tx.current_intake(self.chat.id)

    def transcript(self) -> list[tuple[str, str]]:
        intake = self.intake()
        with self.turns.store.transaction() as tx:
            return [(line.direction, line.text) for line in tx.transcript(intake.id)]


class TelegramPatient(Patient):
    """One person on the fake Telegram server, waiting after each action for the bot's answer.

    ``expect`` moves on to exactly the message it matched (not past later ones), so a reply and
    the question shown right after it can be awaited one after the other. Each action returns the
    update id the fake gave it.
    """

    def __init__(
        self,
        fake: FakeTelegram,
        chat_id: int,
        language_code: str = "en",
        first_name: str | None = None,
        username: str | None = None,
    ):
        self.fake = fake
        self.chat_id = chat_id
        self.language_code = language_code
        self.first_name = first_name or f"Pat{chat_id}"
        self.username = username or f"pat{chat_id}"
        self.seen = 0  # the bot message id the last ``expect`` matched

    def user(self) -> dict:
        return {
            "first_name": self.first_name,
            "username": self.username,
            "language_code": self.language_code,
        }

    def expect(self, text: str, timeout: float = 15.0) -> dict:
        message = self.fake.wait_for_text(self.chat_id, text, timeout=timeout, after=self.seen)
        self.seen = message["message_id"]
        return message

    def command(self, command: str, expect: str | None = None) -> int:
        update = self.fake.send_command(self.chat_id, command, **self.user())
        if expect:
            self.expect(expect)
        return update

    def type(self, text: str, expect: str | None = None) -> int:
        update = self.fake.send_text(self.chat_id, text, **self.user())
        if expect:
            self.expect(expect)
        return update

    def tap(self, label: str, expect: str | None = None) -> int:
        update = self.fake.press_button(self.chat_id, label, **self.user())
        self.fake.wait_for(lambda: not self.fake.unanswered_callback_queries())
        if expect:
            self.expect(expect)
        return update

    def last(self) -> dict:
        return self.fake.messages(self.chat_id)[-1]

    def buttons(self, message: dict | None = None) -> list[str]:
        message = message or self.last()
        markup = message.get("reply_markup") or {}
        return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]

    def newest_id(self) -> int:
        return max((m["message_id"] for m in self.fake.messages(self.chat_id)), default=0)

    def quiet_after(self, message_id: int) -> None:
        """Nothing more from the bot in this chat after ``message_id``, whatever its speed.

        A fence: /privacy is answered only after everything the chat's earlier updates made the
        bot send (a chat's updates are applied, and its replies sent, in order), so whatever came
        between ``message_id`` and that answer is all there was. /privacy changes nothing stored.
        """
        self.command("/privacy", expect="What is stored")
        fence = self.seen
        later = [m for m in self.fake.messages(self.chat_id) if message_id < m["message_id"] < fence]
        assert later == [], f"the bot sent more: {[m['text'][:80] for m in later]}"

    def live_keyboards(self) -> list[dict]:
        """The bot's messages that still show callback buttons (at most the current step's). The
        button that sends a copy of the answers is left out: it asks nothing and works on any
        message (an ending's, /myanswers')."""
        return [
            m
            for m in self.fake.messages(self.chat_id)
            if any(
                "callback_data" in b and not is_copy_button(b["callback_data"])
                for row in (m.get("reply_markup") or {}).get("inline_keyboard", [])
                for b in row
            )
        ]

    def press_data(self, message_id: int, data: str) -> dict:
        """Press a button by its data (a stale or double-tapped one); the answerCallbackQuery call."""
        answered = len(self.fake.calls("answerCallbackQuery"))
        self.fake.press(self.chat_id, message_id, data, **self.user())
        self.fake.wait_for(lambda: not self.fake.unanswered_callback_queries())
        self.fake.wait_for(lambda: len(self.fake.calls("answerCallbackQuery")) > answered)
        return self.fake.calls("answerCallbackQuery")[answered]["params"]

    def message(self, message_id: int) -> dict:
        """A bot message of this chat as it is now."""
        return next(m for m in self.fake.messages(self.chat_id) if m["message_id"] == message_id)


def is_copy_button(data: str) -> bool:
    pressed = render.parse_callback(data)
    return pressed is not None and pressed.action is render.Action.COPY
