"""Typed answers: what a person wrote, read as the current step's value, or why it cannot be.

Buttons carry ids; typed text is matched against the labels of the step's options (a number
names an option by its position, part of one label is enough when only one label contains it),
read as a number with its unit, or kept as written (text questions, within their length).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from bot.engine.texts import Texts, plain
from bot.flow import model

_NUMBER = re.compile(r"^([-+]?\d{1,12}(?:[.,]\d{1,6})?)\s*(.*)$")
_SPLIT = re.compile(r"\s*[,;\n]\s*")
#: No option label or number is longer: longer text is refused before any matching work.
MAX_MATCHED = 200


@dataclass
class Invalid(Exception):
    """An answer the step cannot take: the interface message ``key`` says why."""

    key: str
    values: dict[str, Any] = field(default_factory=dict)


class Parser:
    def __init__(self, texts: Texts):
        self.texts = texts

    def parse(self, step: Any, text: str, lang: str) -> Any:
        """The value ``text`` gives ``step``; raises Invalid."""
        text = text.strip()
        if isinstance(step, model.InfoStep):
            return None
        if text and not visible(text):  # only zero-width or formatting characters: not an answer, nor a skip
            raise Invalid("text_empty" if isinstance(step, model.TextQuestion) else "choose_one")
        if getattr(step, "optional", False) and (not text or same(text, self.texts.message(lang, "skip"))):
            return None
        if isinstance(step, model.TextQuestion):
            if not text:
                raise Invalid("text_empty")
            if len(text) > step.max_length:
                raise Invalid("text_too_long", {"max": step.max_length, "length": len(text)})
            return text
        if len(text) > MAX_MATCHED:
            raise Invalid("not_a_number" if isinstance(step, model.NumberQuestion) else "choose_one")
        if isinstance(step, model.NumberQuestion):
            return self.number(step, text, lang)
        if isinstance(step, model.MultiQuestion):
            return self.check_selection(step, self.selection(step, text, lang), lang)
        option = self.match(step, text, lang)
        if option is None:
            raise Invalid("choose_one")
        return int(option) if isinstance(step, model.ScaleQuestion) else option

    def match(self, step: Any, text: str, lang: str) -> str | None:
        """The option ``text`` names: by number, by label or id, or by part of exactly one label."""
        labels = self.texts.option_labels(step, lang)
        number = ordinal(text, len(labels))
        if number is not None:
            return labels[number - 1][0]
        for option_id, label in labels:
            if same(text, label) or same(text, option_id):
                return option_id
        # A person may type part of a label ("pores" for "Large-looking pores"): take it when
        # exactly one label contains it.
        wanted = text.strip().casefold()
        if len(wanted) >= 3:
            found = [option_id for option_id, label in labels if wanted in label.casefold()]
            if len(found) == 1:
                return found[0]
        return None

    def selection(self, step: model.MultiQuestion, text: str, lang: str) -> list[str]:
        whole = self.match(step, text, lang)
        if whole is not None:
            return [whole]
        if not text:
            return []
        chosen: list[str] = []
        for part in _SPLIT.split(text):
            option = self.match(step, part, lang)
            if option is None:
                raise Invalid("choose_one")
            if option not in chosen:
                chosen.append(option)
        order = [c.id for c in step.choices]
        return sorted(chosen, key=order.index)

    def check_selection(self, step: model.MultiQuestion, selected: list[str], lang: str) -> list[str]:
        for choice in step.choices:
            if choice.exclusive and choice.id in selected and len(selected) > 1:
                raise Invalid("exclusive_alone", {"label": self.texts.text(choice.label, lang)})
        if len(selected) < step.min_selected:
            raise Invalid("choose_at_least", {"min": step.min_selected})
        if step.max_selected is not None and len(selected) > step.max_selected:
            raise Invalid("choose_at_most", {"max": step.max_selected})
        return selected

    def number(self, step: model.NumberQuestion, text: str, lang: str) -> int | float:
        match = _NUMBER.match(text)
        unit = self.texts.text(step.unit, lang) if step.unit is not None else None
        if not match or (match.group(2) and not (unit and same(match.group(2), unit))):
            raise Invalid("not_a_number")
        number = float(match.group(1).replace(",", "."))
        if step.integer:
            if number != int(number):
                raise Invalid("not_whole")
            number = int(number)
        if step.min is not None and number < step.min:
            raise Invalid("number_too_small", {"min": plain(step.min)})
        if step.max is not None and number > step.max:
            raise Invalid("number_too_large", {"max": plain(step.max)})
        return number


def ordinal(text: str, count: int) -> int | None:
    """The 1-based position ``text`` names among ``count`` options, or None.

    ``isdecimal``, not ``isdigit``: "²" is a digit to Python yet ``int("²")`` raises. The length
    cap keeps ``int`` cheap (and within its digit limit) whatever was typed.
    """
    if not (text.isdecimal() and len(text) <= 6):
        return None
    number = int(text)
    return number if 1 <= number <= count else None


def visible(text: str) -> bool:
    """Whether ``text`` shows anything: more than spaces and invisible formatting (a zero-width
    space, a joiner)."""
    return any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in text)


def same(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()
