"""Conditions compiled once per flow into small predicates over (answers, raised flags).

Compiling ahead keeps the per-answer cost to a few dictionary look-ups, and the same predicate
serves skip logic, flags, endings, the checker's path analysis and the diagram's labels. A condition
is also put in words: short, by ids (``describe``: the diagram's edges), or as a sentence naming the
questions and answers (``in_words``: the questionnaire page for staff).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

from bot.flow import model

Answers = Mapping[str, Any]
Predicate = Callable[[Answers, Collection[str]], bool]


def mentions_pattern(words: list[str]) -> re.Pattern[str]:
    """Matches any of ``words`` at a word start, ignoring case: "hurt myself" in "I hurt myself"."""
    alternatives = "|".join(re.escape(w.strip()) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})", re.IGNORECASE)


class Compiler:
    """Turns condition models into predicates; knows which questions take typed text."""

    def __init__(self, text_questions: Collection[str], flag_severity: Mapping[str, str]):
        self.text_questions = tuple(text_questions)
        self.flag_severity = dict(flag_severity)

    def compile(self, cond: Any) -> Predicate:
        if isinstance(cond, model.QuestionCondition):
            return _question_predicate(cond)
        if isinstance(cond, model.FlagCondition):
            flag = cond.flag
            return lambda answers, flags: flag in flags
        if isinstance(cond, model.SeverityCondition):
            wanted = {f for f, s in self.flag_severity.items() if s == cond.severity}
            return lambda answers, flags: not wanted.isdisjoint(flags)
        if isinstance(cond, model.TypedTextCondition):
            pattern = mentions_pattern(cond.typed_text_mentions)
            questions = self.text_questions

            def typed(answers: Answers, flags: Collection[str]) -> bool:
                for q in questions:
                    value = answers.get(q)
                    if isinstance(value, str) and pattern.search(value):
                        return True
                return False

            return typed
        if isinstance(cond, model.AllCondition):
            parts = [self.compile(c) for c in cond.all]
            return lambda answers, flags: all(p(answers, flags) for p in parts)
        if isinstance(cond, model.AnyCondition):
            parts = [self.compile(c) for c in cond.any]
            return lambda answers, flags: any(p(answers, flags) for p in parts)
        if isinstance(cond, model.NotCondition):
            inner = self.compile(cond.not_)
            return lambda answers, flags: not inner(answers, flags)
        raise TypeError(f"not a condition: {cond!r}")  # pragma: no cover - the model forbids it


def operator_of(cond: model.QuestionCondition) -> list[str]:
    """The operators set on a question condition (exactly one in a valid flow)."""
    return [op for op in model.OPERATORS if getattr(cond, op) is not None]


def _question_predicate(cond: model.QuestionCondition) -> Predicate:
    q = cond.question
    ops = operator_of(cond)
    op = ops[0] if ops else "answered"
    arg = getattr(cond, op) if ops else True
    if op == "equals":
        return lambda answers, flags: answers.get(q) == arg
    if op == "one_of":
        allowed = frozenset(arg)
        return lambda answers, flags: _hashable(answers.get(q)) in allowed
    if op == "contains":
        return lambda answers, flags: isinstance(v := answers.get(q), list) and arg in v
    if op == "contains_any":
        wanted = frozenset(arg)
        return lambda answers, flags: isinstance(v := answers.get(q), list) and not wanted.isdisjoint(v)
    if op == "answered":
        return lambda answers, flags: (answers.get(q) is not None) == arg
    if op == "mentions":
        pattern = mentions_pattern(arg)
        return lambda answers, flags: isinstance(v := answers.get(q), str) and bool(pattern.search(v))
    compare: Callable[[float], bool] = {
        "less_than": lambda v: v < arg,
        "at_most": lambda v: v <= arg,
        "greater_than": lambda v: v > arg,
        "at_least": lambda v: v >= arg,
    }[op]

    def numeric(answers: Answers, flags: Collection[str]) -> bool:
        value = answers.get(q)
        return isinstance(value, (int, float)) and not isinstance(value, bool) and compare(value)

    return numeric


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def describe(cond: Any) -> str:
    """A short rendering of a condition by ids, for diagrams and messages (``in_words`` names the
    questions and answers for staff)."""
    if isinstance(cond, model.QuestionCondition):
        ops = operator_of(cond)
        op = ops[0] if ops else "answered"
        arg = getattr(cond, op) if ops else True
        symbol = {
            "equals": "=",
            "one_of": "in",
            "contains": "has",
            "contains_any": "has any of",
            "less_than": "<",
            "at_most": "<=",
            "greater_than": ">",
            "at_least": ">=",
            "answered": "answered",
            "mentions": "mentions",
        }[op]
        if isinstance(arg, list):
            arg = ", ".join(str(a) for a in arg)
        if op == "answered":
            return f"{cond.question} answered" if arg else f"{cond.question} not answered"
        return f"{cond.question} {symbol} {arg}"
    if isinstance(cond, model.FlagCondition):
        return f"flag {cond.flag}"
    if isinstance(cond, model.SeverityCondition):
        return f"any {cond.severity} flag"
    if isinstance(cond, model.TypedTextCondition):
        return "typed text mentions ..."
    if isinstance(cond, model.AllCondition):
        return " and ".join(_group(describe(c)) for c in cond.all)
    if isinstance(cond, model.AnyCondition):
        return " or ".join(_group(describe(c)) for c in cond.any)
    if isinstance(cond, model.NotCondition):
        return f"not {_group(describe(cond.not_))}"
    return "?"


def _group(text: str) -> str:
    return f"({text})" if " and " in text or " or " in text else text


class Words(Protocol):
    """How a reader names what a condition tests (a question, one of its answers, a flag, a
    severity) and in which language the words between them are (``gettext``: the staff pages'
    catalogs; the sentences below are its message ids)."""

    def question(self, question_id: str) -> str: ...

    def value(self, question_id: str, value: Any) -> str: ...

    def flag(self, flag_id: str) -> str: ...

    def severity(self, severity: str) -> str: ...

    def gettext(self, message: str) -> str: ...


def in_words(cond: Any, words: Words) -> str:
    """A condition as a sentence for staff, naming questions, answers and flags the way ``words``
    does ("Q4 “...?” is “Yes” or “I'm not sure”"), where ``describe`` gives ids and operators."""
    return _in_words(cond, words)[0]


def _in_words(cond: Any, words: Words) -> tuple[str, bool]:
    """The words, and whether they join several conditions (then they are bracketed inside another)."""
    _ = words.gettext
    if isinstance(cond, model.QuestionCondition):
        ops = operator_of(cond)
        op = ops[0] if ops else "answered"
        arg = getattr(cond, op) if ops else True
        q = words.question(cond.question)
        if op == "answered":
            return (_("%(question)s was answered") if arg else _("%(question)s was not answered")) % {
                "question": q
            }, False
        if op == "mentions":
            return _("%(question)s mentions %(words)s") % {"question": q, "words": _either(_quoted(arg), _)}, False
        if op in ("equals", "one_of", "contains", "contains_any"):
            listed = _either([words.value(cond.question, v) for v in (arg if isinstance(arg, list) else [arg])], _)
            sentence = (
                _("%(question)s is %(answers)s")
                if op in ("equals", "one_of")
                else _("%(question)s includes %(answers)s")
            )
            return sentence % {"question": q, "answers": listed}, False
        sentence = {
            "less_than": _("%(question)s is under %(number)s"),
            "at_most": _("%(question)s is %(number)s or less"),
            "greater_than": _("%(question)s is over %(number)s"),
            "at_least": _("%(question)s is %(number)s or more"),
        }[op]
        return sentence % {"question": q, "number": int(arg) if float(arg).is_integer() else arg}, False
    if isinstance(cond, model.FlagCondition):
        return _("the flag “%(topic)s” was raised") % {"topic": words.flag(cond.flag)}, False
    if isinstance(cond, model.SeverityCondition):
        return _("any %(severity)s flag was raised") % {"severity": words.severity(cond.severity)}, False
    if isinstance(cond, model.TypedTextCondition):
        return _("a typed answer mentions %(words)s") % {"words": _either(_quoted(cond.typed_text_mentions), _)}, False
    if isinstance(cond, model.AllCondition | model.AnyCondition):
        both = isinstance(cond, model.AllCondition)
        parts = [_in_words(c, words) for c in (cond.all if both else cond.any)]
        if len(parts) == 1:
            return parts[0]
        texts = [f"({text})" if compound else text for text, compound in parts]
        joined = texts[0]
        for text in texts[1:]:
            joined = (_("%(first)s; and %(then)s") if both else _("%(first)s; or %(then)s")) % {
                "first": joined,
                "then": text,
            }
        return joined, True
    if isinstance(cond, model.NotCondition):
        return _("not (%(condition)s)") % {"condition": _in_words(cond.not_, words)[0]}, False
    return "?", False


def _quoted(values: list[Any]) -> list[str]:
    return [f"“{v}”" for v in values]


def _either(values: list[str], _: Any) -> str:
    """“a”, “b” or “c”."""
    if len(values) == 1:
        return values[0]
    return _("%(some)s or %(last)s") % {"some": ", ".join(values[:-1]), "last": values[-1]}
