"""What the patient sees on Telegram, as plain data: message texts, inline keyboards, callback data.

Rendering is pure (no Telegram calls), so a reply can be stored in the outbox as JSON before it
is sent, and sent again after a crash exactly as it was decided.

Callback data carry the intake id, the conversation's revision and an ``Action``, never labels:
a button pressed after the conversation moved on is recognised as stale, and the data stay far
below Telegram's 64 bytes whatever the language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from bot.channels.telegram.replies import Button, Keyboard, Reply, ReplyOp
from bot.engine import Engine, Prompt, PromptKind

MAX_TEXT = 4096  # Telegram's limit for one message
MAX_CALLBACK_BYTES = 64
CHECKED, UNCHECKED = "☑ ", "☐ "
SUMMARY_BUTTONS_PER_ROW = 5
_NUMBER = re.compile(r"[0-9]{1,20}")  # an intake id or a revision, as callback() writes them


class Action(StrEnum):
    """What a button does; one letter each, to keep callback data short."""

    CHOOSE = "c"
    TOGGLE = "t"
    DONE = "d"
    BACK = "b"
    SKIP = "s"
    CONFIRM = "k"
    CHANGE = "e"
    CONTINUE = "n"
    RESTART = "R"
    DELETE = "D"
    CANCEL = "X"
    LANGUAGE = "L"
    # asked first because an urgent answer is at stake (``commands.ask_before_urgent_change``)
    BACK_ANYWAY = "B"
    CHANGE_ANYWAY = "E"
    KEEP = "K"
    # the safety screen (``safety.py``): the screen's id is the argument
    SAFE_YES = "y"  # an ask-first question answered Yes
    SAFE_NO = "w"  # ... answered No
    CARRY_ON = "o"  # after the screen's text: back to the questions
    STOP = "z"  # ... or stop there
    COPY = "p"  # send me a copy of my answers (a PDF): at an ending, and under /myanswers


_ACTIONS = {a.value: a for a in Action}


@dataclass(frozen=True)
class Press:
    """A decoded callback: what was pressed, on which intake, at which revision."""

    intake_id: int
    revision: int
    action: Action
    arg: str = ""


def callback(intake_id: int, revision: int, action: Action, arg: str = "") -> str:
    data = f"{intake_id}.{revision}.{action}" + (f".{arg}" if arg else "")
    if len(data.encode()) > MAX_CALLBACK_BYTES:  # pragma: no cover - ids are at most 24 characters
        raise ValueError(f"callback data too long: {data!r}")
    return data


def parse_callback(data: str | None) -> Press | None:
    """The press a callback's data describe, or None for data this bot never made (a stale press).

    Anyone can send any callback data, so nothing here may raise: ids are plain ASCII digits
    (``str.isdigit`` also accepts "²", which ``int`` refuses).
    """
    if not isinstance(data, str) or len(data.encode()) > MAX_CALLBACK_BYTES:
        return None
    parts = data.split(".", 3)
    if len(parts) < 3 or not _NUMBER.fullmatch(parts[0]) or not _NUMBER.fullmatch(parts[1]):
        return None
    action = _ACTIONS.get(parts[2])
    if action is None:
        return None
    return Press(int(parts[0]), int(parts[1]), action, parts[3] if len(parts) > 3 else "")


def send(text: str, keyboard: Keyboard | None = None) -> Reply:
    return Reply(ReplyOp.SEND, text, keyboard)


def edit(text: str, *, target: int | None = None, message_id: int | None = None) -> Reply:
    """Replace a sent message's text and remove its keyboard."""
    return Reply(ReplyOp.EDIT, text, target=target, message_id=message_id)


def edit_keyboard(keyboard: Keyboard | None, *, target: int | None = None, message_id: int | None = None) -> Reply:
    return Reply(ReplyOp.MARKUP, keyboard=keyboard, target=target, message_id=message_id)


def copy(caption: str, intake_id: int) -> Reply:
    """A copy of ``intake_id``'s answers, as a PDF with ``caption`` (made as it is sent)."""
    return Reply(ReplyOp.COPY, caption, intake=intake_id)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split a long text into messages at paragraph, then line, then word boundaries."""
    chunks: list[str] = []
    while len(text) > limit:
        cut = limit
        for separator in ("\n\n", "\n", " "):  # the largest unit that still fills half a message
            found = text.rfind(separator, 0, limit)
            if found > limit // 2:
                cut = found
                break
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    chunks.append(text)
    return chunks


class Renderer:
    """Turns the engine's prompts into Telegram messages for one flow."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def body(self, prompt: Prompt, lang: str) -> str:
        """The step's own text (with the answers list on the summary)."""
        if prompt.ending is not None:
            return self.ending_text(prompt, lang)
        lines = [prompt.text]
        if prompt.summary:
            lines.append("")
            for number, line in enumerate(prompt.summary, 1):
                lines.append(f"{number}. {line.question}\n    → {line.answer}")
        return "\n".join(lines)

    def prompt_text(self, prompt: Prompt, lang: str, *, error: str | None = None, help: bool = False) -> str:
        lines: list[str] = [f"⚠️ {error}", ""] if error else []
        lines.append(self.body(prompt, lang))
        if prompt.ending is not None:
            return "\n".join(lines)
        if prompt.hint:
            lines += ["", f"ℹ️ {prompt.hint}"]
        if prompt.answer == "multi":
            lines += ["", self.engine.message(lang, "tick_then_done")]
        if help and prompt.options and prompt.kind == PromptKind.QUESTION:
            lines += ["", self.engine.message(lang, "help_choices")]
            lines += [f"{n}. {o.label}" for n, o in enumerate(prompt.options, 1)]
        if prompt.current:
            lines += ["", prompt.current]
        return "\n".join(lines)

    def keyboard(self, prompt: Prompt, intake_id: int, lang: str, booking: str | None = None) -> Keyboard:
        """``booking``: the booking button's address for this intake (``TurnState.booking_link``:
        tracked, or the page filled in); without it, the page itself."""
        revision = prompt.revision
        rows: Keyboard = []
        if prompt.kind == PromptKind.OUTCOME:
            ending = prompt.ending
            link = ending.booking_link if ending else None
            if link:
                rows.append([{"text": self.engine.message(lang, "booking"), "url": booking or link}])
            # Not under an urgent ending: nothing may stand beside "get help now" (a copy can
            # be had from /myanswers later, once the person is safe).
            if ending is not None and ending.answered and not ending.urgent:
                rows.append(self.copy_row(intake_id, revision, lang))
            return rows
        if prompt.kind == PromptKind.SUMMARY:
            numbers = [
                {"text": f"✏️ {n}", "data": callback(intake_id, revision, Action.CHANGE, line.step_id)}
                for n, line in enumerate(prompt.summary, 1)
            ]
            rows += [numbers[i : i + SUMMARY_BUTTONS_PER_ROW] for i in range(0, len(numbers), SUMMARY_BUTTONS_PER_ROW)]
            rows.append([{"text": prompt.options[0].label, "data": callback(intake_id, revision, Action.CONFIRM)}])
        elif prompt.kind == PromptKind.INFO:
            rows.append([{"text": prompt.options[0].label, "data": callback(intake_id, revision, Action.CONTINUE)}])
        elif prompt.answer == "multi":
            for option in prompt.options:
                mark = CHECKED if option.selected else UNCHECKED
                rows.append(
                    [{"text": mark + option.label, "data": callback(intake_id, revision, Action.TOGGLE, option.id)}]
                )
            rows.append(
                [
                    {
                        "text": "✅ " + self.engine.message(lang, "done"),
                        "data": callback(intake_id, revision, Action.DONE),
                    }
                ]
            )
        elif prompt.answer == "yesno":
            rows.append(
                [{"text": o.label, "data": callback(intake_id, revision, Action.CHOOSE, o.id)} for o in prompt.options]
            )
        else:
            rows += [
                [{"text": o.label, "data": callback(intake_id, revision, Action.CHOOSE, o.id)}] for o in prompt.options
            ]
        nav: list[Button] = []
        if prompt.can_back:
            nav.append(
                {"text": "⬅️ " + self.engine.message(lang, "back"), "data": callback(intake_id, revision, Action.BACK)}
            )
        if prompt.can_skip:
            nav.append({"text": self.engine.message(lang, "skip"), "data": callback(intake_id, revision, Action.SKIP)})
        if nav:
            rows.append(nav)
        return rows

    def copy_row(self, intake_id: int, revision: int, lang: str) -> list[Button]:
        """The button that sends the person a copy of their answers (``copies.py``)."""
        return [{"text": self.engine.message(lang, "copy_button"), "data": callback(intake_id, revision, Action.COPY)}]

    def prompt_messages(
        self,
        prompt: Prompt,
        intake_id: int,
        lang: str,
        *,
        error: str | None = None,
        help: bool = False,
        booking: str | None = None,
    ) -> list[Reply]:
        """The messages that show a step; the keyboard goes on the last one."""
        chunks = split_text(self.prompt_text(prompt, lang, error=error, help=help))
        keyboard = self.keyboard(prompt, intake_id, lang, booking) or None
        return [send(c) for c in chunks[:-1]] + [send(chunks[-1], keyboard)]

    def ending_text(self, prompt: Prompt, lang: str) -> str:
        ending = prompt.ending
        assert ending is not None
        lines = [("🚨 " if ending.urgent else "") + ending.text]
        if ending.topics:
            lines += ["", self.engine.message(lang, "points_to_discuss")]
            lines += [f"• {topic}" for topic in ending.topics]
        for paragraph in ending.paragraphs:
            lines += ["", paragraph]
        lines += ["", ending.consultation]
        if ending.recap:
            lines += ["", " ".join(ending.recap)]
        if ending.answered and not ending.urgent:  # nothing may stand beside "get help now"
            button = self.engine.message(lang, "copy_button")
            lines += ["", self.engine.message(lang, "ending_read_more", button=button)]
        return "\n".join(lines)

    def answered_text(self, prompt: Prompt, lang: str, answer: str | None) -> str:
        """A prompt once answered: its text with the answer under it, and no buttons."""
        body = split_text(self.body(prompt, lang))[-1]
        return body if answer is None else f"{body}\n\n✓ {answer}"
