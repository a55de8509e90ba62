"""Reading a PDF back (pypdf), and a completed intake of the default flow to make one of."""

from __future__ import annotations

import io

from pypdf import PdfReader

from bot.channels.telegram.events import Chat
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Engine
from bot.flow import model
from bot.store import Store
from support.default_flow import routine
from support.patients import InProcessPatient


def text_of(pdf: bytes) -> tuple[str, int]:
    """The PDF's text, pages joined, and how many pages it has."""
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages), len(reader.pages)


def flat(text: str) -> str:
    """Extracted text with its line breaks (where a line wrapped) taken out."""
    return "".join(text.split())


def play(
    skin: Engine,
    store: Store,
    chat_id: int,
    lang: str,
    typed: str | None = None,
    flagged: bool = False,
    first: str = "",
    changes: dict[int, tuple[str, str]] | None = None,
) -> int:
    """A completed intake of the default flow: ``typed`` as the answer to the first text question,
    ``first`` typed once before the first (a message too long to be an answer: the transcript has it)."""
    turns = TurnRunner(skin, store)
    patient = InProcessPatient(turns, Chat(chat_id, chat_id, f"P{chat_id}", None, None, lang))
    patient.command("/start website")
    patient.tap(skin.message(lang, "continue"))
    script = routine(lang)
    if flagged:
        script[7] = ("choose", "breastfeeding")
    for index, step in (changes or {}).items():  # other answers, by their place in ``ROUTINE``
        script[index] = step
    for op, arg in script[1:]:
        with store.transaction() as tx:
            step = skin.steps[tx.current_intake(chat_id).state["state"]]
        if op == "choose":
            patient.tap(dict(skin.option_labels(step, lang))[arg])
            if isinstance(step, model.MultiQuestion):
                patient.tap(skin.message(lang, "done"))
        elif isinstance(step, model.TextQuestion):
            if first:
                patient.type(first)
                first = ""
            patient.type(typed if typed is not None else arg)
            typed = None
        else:
            patient.type(arg)
    patient.tap(skin.message(lang, "confirm"))
    with store.transaction() as tx:
        return tx.current_intake(chat_id).id
