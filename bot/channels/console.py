"""The flow in a terminal: numbered choices, typed answers, /back, /restart, /quit.

It reads one answer per line, so answers can also be piped in (``printf '1\\n2\\n' | ...``).
It is the quickest way for a clinic author to walk through a flow they are writing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from bot.channels.typed_text import clean
from bot.engine import Effect, Engine, Prompt, PromptKind, Screened

COMMANDS = "/back, /restart, /language CODE, /quit"


class ConsoleChat:
    def __init__(self, engine: Engine, out: TextIO | None = None, language: str | None = None):
        self.engine = engine
        self.out = out or sys.stdout  # looked up now, not at import: output can be redirected
        self.conv = engine.start(language)
        #: a safety screen's question or choice waiting for an answer: ("ask" | "choice", screen)
        self.waiting: tuple[str, Screened] | None = None

    def say(self, text: str = "") -> None:
        print(text, file=self.out)

    def run(self, read_line: Callable[[], str]) -> int:
        """Chat until the ending is shown (exit 0), /quit (0), or the input ends first (1)."""
        self.say(f"{self.engine.text(self.engine.flow.title, self.conv.language)}  (commands: {COMMANDS})")
        self.show(self.engine.view(self.conv))
        while not self.engine.finished(self.conv):
            try:
                line = read_line()
            except EOFError:
                self.say("\n(The input ended before the questionnaire was finished.)")
                return 1
            if not self.handle(line.rstrip("\n")):
                return 0
        return 0

    def handle(self, line: str) -> bool:
        """Apply one line; False when the person asked to quit."""
        engine, conv = self.engine, self.conv
        command = line.strip().lower()
        if command in ("/quit", "/exit"):
            self.say("Goodbye.")
            return False
        if command == "/back":
            effect = engine.back(conv)
        elif command == "/restart":
            effect = engine.restart(conv)
        elif command.startswith("/language"):
            code = command.partition(" ")[2].strip()
            found = engine.screen(conv, clean(line.partition(" ")[2])) if code else None
            if found is not None:  # a command's words are read too
                self.screened(found)
                return True
            effect = engine.set_language(conv, code)
            if not effect.accepted:
                self.say("Languages: " + ", ".join(engine.flow.languages))
        else:
            text = clean(line)
            found = engine.screen(conv, text)  # before anything else, as on Telegram
            if found is not None:
                self.screened(found)
                return True
            if self.waiting is not None:
                self.answer_screen(text)
                return True
            effect = engine.reply(conv, text)
        self.waiting = None
        self.after(effect)
        return True

    # --- the safety screen: its text first, then a numbered choice ----------------------------

    def screened(self, found: Screened) -> None:
        engine, lang = self.engine, found.language
        if found.ask_first:
            self.say(f"\n{found.text}")
            self.say(f"  1. {engine.message(lang, 'yes')}\n  2. {engine.message(lang, 'no')}")
            self.waiting = ("ask", found)
            return
        engine.screened(self.conv, found)
        self.waiting = None
        if found.text is None:  # the screen ends the intake at its outcome
            self.show(engine.view(self.conv))
            return
        self.say(f"\n!!! {found.text}")
        self.say(f"  1. {engine.message(lang, 'safety_carry_on')}\n  2. {engine.message(lang, 'safety_stop')}")
        self.waiting = ("choice", found)

    def answer_screen(self, text: str) -> None:
        assert self.waiting is not None
        kind, found = self.waiting
        engine, lang = self.engine, found.language
        first = text.strip() == "1" or text.strip().casefold() in (
            engine.message(lang, "yes" if kind == "ask" else "safety_carry_on").casefold(),
        )
        second = text.strip() == "2" or text.strip().casefold() in (
            engine.message(lang, "no" if kind == "ask" else "safety_stop").casefold(),
        )
        if not first and not second:
            self.say(f"! {engine.message(lang, 'choose_one')}")
            return
        self.waiting = None
        if kind == "ask" and first:
            confirmed = engine.screens.confirmed(found.screen, lang)
            if confirmed is not None:
                self.screened(confirmed)
            return
        if kind == "ask":
            self.say(engine.message(lang, "safety_not_now"))
        elif second and engine.stop(self.conv, found.screen).accepted:
            pass  # its ending is shown below
        elif second:
            self.say(engine.message(lang, "safety_stopped"))
        self.show(engine.view(self.conv))

    def after(self, effect: Effect) -> None:
        prompt = self.engine.view(self.conv)
        if effect.error:
            self.say(f"! {effect.error}")
            if effect.help:
                self.say(self.engine.message(self.conv, "help_choices"))
                self.show_options(prompt)
            return
        if effect.accepted:
            self.show(prompt)

    def show(self, prompt: Prompt) -> None:
        self.say()
        if prompt.ending is not None:
            ending = prompt.ending
            if ending.urgent:
                self.say("!!! " + ending.text)
            else:
                self.say(ending.text)
            if ending.topics:
                self.say(self.engine.message(self.conv, "points_to_discuss"))
                for topic in ending.topics:
                    self.say(f"  - {topic}")
            for paragraph in ending.paragraphs:
                self.say(paragraph)
            self.say(ending.consultation)
            if ending.recap:
                self.say(" ".join(ending.recap))
            if ending.booking_link:
                self.say(f"{self.engine.message(self.conv, 'booking')}: {ending.booking_link}")
            return
        self.say(prompt.text)
        if prompt.hint:
            self.say(f"  ({prompt.hint})")
        if prompt.summary:
            for number, line in enumerate(prompt.summary, 1):
                self.say(f"  {number}. {line.question}\n     -> {line.answer}")
        self.show_options(prompt)
        if prompt.current:
            self.say(f"  [{prompt.current}]")

    def show_options(self, prompt: Prompt) -> None:
        if prompt.kind == PromptKind.SUMMARY:
            self.say(f"  [Enter] {prompt.options[0].label}")
            return
        if prompt.kind == PromptKind.INFO:
            self.say(f"  [Enter] {prompt.options[0].label}")
            return
        multi = prompt.answer == "multi"
        for number, option in enumerate(prompt.options, 1):
            box = ("[x] " if option.selected else "[ ] ") if multi else ""
            self.say(f"  {number}. {box}{option.label}")
        if multi:
            self.say("  (type the numbers, separated by commas)")
        if prompt.can_skip:
            self.say(f"  [Enter] {self.engine.message(self.conv, 'skip')}")


def read_stdin_line() -> str:
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line


def run_console(engine: Engine, language: str | None = None) -> int:
    chat = ConsoleChat(engine, language=language)
    if sys.stdin.isatty():
        return chat.run(lambda: input("> "))
    return chat.run(read_stdin_line)
