"""What a person reads, in their language: flow texts, interface messages, option labels, answers."""

from __future__ import annotations

import re
from typing import Any

from bot.flow import model
from bot.flow.booking import plain_link
from bot.flow.messages import messages_for

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class Texts:
    """The words of one flow, with the interface messages (``bot/flow/messages.yaml``) filled in."""

    def __init__(self, flow: model.Flow):
        self.flow = flow
        self.messages = messages_for(flow)
        #: ``{booking_link}`` in a text: the booking page itself (a button carries the prefill)
        self.booking_link = plain_link(flow.booking_link)

    def text(self, value: Any, lang: str) -> str:
        """A flow text in ``lang`` (falling back to the default language), placeholders filled."""
        if value is None:
            return ""
        text = value if isinstance(value, str) else value.get(lang) or value[self.flow.default_language]
        if "{" in text:
            text = text.replace("{clinic}", self.text(self.flow.clinic, lang)).replace(
                "{booking_link}", self.booking_link
            )
        return text

    def message(self, lang: str, key: str, **values: Any) -> str:
        """An interface message in ``lang``, its {placeholders} filled."""
        text = self.messages[lang][key]
        if "{" not in text:
            return text
        values.setdefault("clinic", self.text(self.flow.clinic, lang))
        values.setdefault("booking_link", self.booking_link)
        return _PLACEHOLDER.sub(lambda m: str(values.get(m[1], m[0])), text)

    def option_labels(self, step: Any, lang: str) -> list[tuple[str, str]]:
        """(id, label) of each option of a choice-like step, in order."""
        if isinstance(step, model.ConsentStep):
            return [("agree", self.text(step.agree, lang)), ("decline", self.text(step.decline, lang))]
        if isinstance(step, model.YesNoQuestion):
            return [("yes", self.message(lang, "yes")), ("no", self.message(lang, "no"))]
        if isinstance(step, model.ScaleQuestion):
            return [(str(p.value), self.text(p.label, lang)) for p in step.points]
        return [(c.id, self.text(c.label, lang)) for c in getattr(step, "choices", ())]

    def outcome_topic(self, step: model.OutcomeStep, lang: str) -> str:
        """An ending in a few words for staff: its ``topic``, else the first words of its text."""
        if step.topic is not None:
            return self.text(step.topic, lang)
        return first_words(self.text(step.text, lang))

    def display(self, step: Any, value: Any, lang: str) -> str:
        """An answer in words: choice labels, a number with its unit, the text typed."""
        if value is None:
            return self.message(lang, "skipped")
        if isinstance(step, model.NumberQuestion):
            unit = self.text(step.unit, lang) if step.unit is not None else ""
            return f"{plain(value)} {unit}".strip()
        if isinstance(step, model.TextQuestion):
            return str(value)
        labels = dict(self.option_labels(step, lang))
        if isinstance(value, list):
            return ", ".join(labels.get(v, v) for v in value) or "-"
        return labels.get(str(value), str(value))


def plain(number: float) -> str:
    """A number as a person writes it: 70, not 70.0."""
    return str(int(number)) if float(number).is_integer() else str(number)


#: How long an ending's first words may be where it has no ``topic`` (a list cell, a select option).
TOPIC_WORDS = 60


def first_words(text: str, limit: int = TOPIC_WORDS) -> str:
    """The first line of ``text``, cut at a word boundary to ``limit`` characters (with "…")."""
    line = text.strip().split("\n", 1)[0].strip()
    if len(line) <= limit:
        return line
    cut = line[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.-")
    return f"{cut}…"
