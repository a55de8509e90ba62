"""Static checks on a structurally valid flow: everything a schema cannot say.

Ids and references, languages, placeholders, skip logic that only reads earlier answers, steps no
path can reach, paths that end without an outcome, endings that do not recommend a consultation,
urgent flags that would not lead to urgent care, and diagnostic or verdict wording.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

from bot.flow import model, wording
from bot.flow.conditions import operator_of
from bot.flow.graph import FlowGraph, Trigger, answer_kind, answer_values, answerable, leaves
from bot.flow.messages import DEFAULT_MESSAGES, placeholders
from bot.flow.problems import Path, Problem, SourceMap, did_you_mean

FLOW_PLACEHOLDERS = frozenset({"clinic", "booking_link"})
MAX_TEXT = 3500  # leaves room in Telegram's 4,096 characters for hints, choices and corrections
MAX_LABEL = 60  # longer button labels are cut off on a phone
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
#: Fields holding a text a patient never sees (checked for languages, not for wording).
_STAFF_ONLY: frozenset[str] = frozenset({"title_staff"})


def check_flow(flow: model.Flow, source: SourceMap) -> list[Problem]:
    """Every problem found in ``flow``; an empty list means the flow can be used."""
    return sorted(_Checker(flow, source).run())


class _Checker:
    def __init__(self, flow: model.Flow, source: SourceMap):
        self.flow = flow
        self.source = source
        self.problems: list[Problem] = []
        # What the engine will do, asked of the same rules it runs (a duplicated id refers to its
        # first step; the duplicate is reported).
        self.graph = FlowGraph(flow)
        self.index = self.graph.index
        self.steps = self.graph.by_id
        self.flag_severity = self.graph.flag_severity
        self.compiler = self.graph.compiler

    def error(self, path: Path, message: str, *, at_key: bool = False) -> None:
        self.problems.append(self.source.problem(path, message, at_key=at_key))

    def run(self) -> list[Problem]:
        self.check_metadata()
        self.check_ids()
        self.check_texts()
        self.check_messages()
        self.check_steps()
        self.check_conditions()
        if not self.problems:  # path analysis needs sound references
            self.check_paths()
            self.check_urgent_flags()
        return self.problems

    # --- metadata and ids ----------------------------------------------------------------------

    def check_metadata(self) -> None:
        flow = self.flow
        seen: set[str] = set()
        for i, lang in enumerate(flow.languages):
            if lang in seen:
                self.error(("languages", i), f"language '{lang}' is listed twice")
            seen.add(lang)
        if flow.default_language not in flow.languages:
            self.error(
                ("default_language",),
                f"default language '{flow.default_language}' is not in languages"
                + did_you_mean(flow.default_language, flow.languages),
            )
        for i, section in enumerate(flow.sections):
            if [s.id for s in flow.sections].index(section.id) != i:
                self.error(("sections", i, "id"), f"duplicate section id '{section.id}'")

    def check_ids(self) -> None:
        seen: dict[str, int] = {}
        for i, step in enumerate(self.flow.steps):
            if step.id in seen:
                line = self.source.value_at(("steps", seen[step.id], "id"))[0]
                self.error(("steps", i, "id"), f"duplicate step id '{step.id}' (first used on line {line})")
            else:
                seen[step.id] = i
            ids = [c.id for c in getattr(step, "choices", [])]
            for j, cid in enumerate(ids):
                if ids.index(cid) != j:
                    self.error(("steps", i, "choices", j, "id"), f"duplicate choice id '{cid}' in '{step.id}'")
            values = [p.value for p in getattr(step, "points", [])]
            for j, value in enumerate(values):
                if values.index(value) != j:
                    self.error(("steps", i, "points", j, "value"), f"duplicate scale value {value} in '{step.id}'")
        flag_ids: dict[str, int] = {}
        for i, flag in enumerate(self.flow.flags):
            if flag.id in flag_ids:
                self.error(("flags", i, "id"), f"duplicate flag id '{flag.id}'")
            flag_ids.setdefault(flag.id, i)

    # --- texts ---------------------------------------------------------------------------------

    def texts(self) -> Iterator[tuple[Path, Any, bool]]:
        """Every text of the flow: (path, value, whether a patient sees it)."""
        flow = self.flow
        yield ("title",), flow.title, True
        yield ("clinic",), flow.clinic, True
        for i, section in enumerate(flow.sections):
            yield ("sections", i, "title"), section.title, False
        for i, step in enumerate(flow.steps):
            base: Path = ("steps", i)
            for key in ("ask", "hint", "reask", "unit", "text", "agree", "decline", "consultation"):
                value = getattr(step, key, None)
                if value is not None:
                    yield (*base, key), value, True
            for j, choice in enumerate(getattr(step, "choices", [])):
                yield (*base, "choices", j, "label"), choice.label, True
            for j, point in enumerate(getattr(step, "points", [])):
                yield (*base, "points", j, "label"), point.label, True
        for i, flag in enumerate(flow.flags):
            yield ("flags", i, "topic"), flag.topic, True  # endings list topics to the patient

    def check_texts(self) -> None:
        languages = self.flow.languages
        for path, value, patient_sees in self.texts():
            if isinstance(value, str):
                if len(languages) > 1 and path != ("clinic",):
                    self.error(path, "give this text in every language: " + ", ".join(languages))
                by_language = dict.fromkeys(languages, value)
            else:
                for lang in languages:
                    if lang not in value:
                        self.error(path, f"missing the '{lang}' text")
                for lang in value:
                    if lang not in languages:
                        self.error(
                            (*path, lang),
                            f"language '{lang}' is not in languages" + did_you_mean(lang, languages),
                            at_key=True,
                        )
                by_language = value
            for lang, text in by_language.items():
                where = path if isinstance(value, str) else (*path, lang)
                self.check_one_text(where, text, lang, patient_sees, path[-1] in ("label",))

    def check_one_text(self, path: Path, text: str, lang: str, patient_sees: bool, is_label: bool) -> None:
        for name in _PLACEHOLDER.findall(text):
            if name not in FLOW_PLACEHOLDERS:
                self.error(
                    path,
                    f"unknown placeholder '{{{name}}}'; texts may use {{clinic}} and {{booking_link}}"
                    + did_you_mean(name, FLOW_PLACEHOLDERS),
                )
        if len(text) > MAX_TEXT:
            self.error(path, f"text too long for one chat message: {len(text)} characters (at most {MAX_TEXT})")
        if is_label and len(text) > MAX_LABEL:
            self.error(path, f"button label too long: {len(text)} characters (at most {MAX_LABEL})")
        if patient_sees:
            for reason in wording.verdicts(text, lang):
                self.error(path, f"diagnostic or verdict wording ({lang}): {reason}")

    def check_messages(self) -> None:
        for key, value in self.flow.messages.items():
            path: Path = ("messages", key)
            if key not in DEFAULT_MESSAGES["en"]:
                self.error(path, f"unknown message '{key}'" + did_you_mean(key, DEFAULT_MESSAGES["en"]), at_key=True)
                continue
            allowed = placeholders(DEFAULT_MESSAGES["en"][key])
            items = [(path, value)] if isinstance(value, str) else [((*path, k), v) for k, v in value.items()]
            for where, text in items:
                for name in _PLACEHOLDER.findall(text):
                    if name not in allowed:
                        shown = ", ".join("{" + a + "}" for a in sorted(allowed)) or "none"
                        self.error(where, f"unknown placeholder '{{{name}}}' in message '{key}' (allowed: {shown})")
            if isinstance(value, dict):
                for lang in self.flow.languages:
                    if lang not in value:
                        self.error(path, f"missing the '{lang}' text")
                for lang in value:
                    if lang not in self.flow.languages:
                        self.error((*path, lang), f"language '{lang}' is not in languages", at_key=True)
        for i, lang in enumerate(self.flow.languages):
            if lang in DEFAULT_MESSAGES:
                continue
            missing = [
                k
                for k in DEFAULT_MESSAGES["en"]
                if not (isinstance(v := self.flow.messages.get(k), str) or (isinstance(v, dict) and lang in v))
            ]
            if missing:
                self.error(
                    ("languages", i),
                    f"no built-in interface messages for '{lang}': add them under messages: "
                    f"({len(missing)} missing, first '{missing[0]}')",
                )

    # --- steps ---------------------------------------------------------------------------------

    def check_steps(self) -> None:
        steps = self.flow.steps
        consent = [i for i, s in enumerate(steps) if isinstance(s, model.ConsentStep)]
        first_question = next((i for i, s in enumerate(steps) if isinstance(s, model.QUESTION_TYPES)), None)
        if not consent:
            self.error(("steps",), "the flow needs a consent step (kind: consent) before its first question")
        for extra in consent[1:]:
            self.error(("steps", extra, "kind"), "only one consent step is allowed")
        if consent and first_question is not None and first_question < consent[0]:
            self.error(
                ("steps", first_question),
                f"question '{steps[first_question].id}' comes before the consent step: ask for consent first",
            )
        if consent and steps[consent[0]].when is not None:
            self.error(("steps", consent[0], "when"), "the consent step is always shown: remove `when`")
        if steps[0].when is not None:
            self.error(("steps", 0, "when"), "the first step is always shown: remove `when`")
        summaries = [i for i, s in enumerate(steps) if isinstance(s, model.SummaryStep)]
        for extra in summaries[1:]:
            self.error(("steps", extra, "kind"), "only one summary step is allowed")
        if summaries:
            for i in range(summaries[0] + 1, len(steps)):
                if isinstance(steps[i], model.QUESTION_TYPES):
                    self.error(("steps", i), f"question '{steps[i].id}' comes after the summary; move it before")
        section_ids = {s.id for s in self.flow.sections}
        for i, step in enumerate(steps):
            base: Path = ("steps", i)
            section = getattr(step, "section", None)
            if section is not None and section not in section_ids:
                self.error((*base, "section"), f"unknown section '{section}'" + did_you_mean(section, section_ids))
            if isinstance(step, model.MultiQuestion):
                n = len(step.choices)
                if step.max_selected is not None and step.max_selected < step.min_selected:
                    self.error((*base, "max_selected"), "max_selected is smaller than min_selected")
                if step.max_selected is not None and step.max_selected > n:
                    self.error((*base, "max_selected"), f"max_selected is larger than the {n} choices")
                if step.min_selected > n:
                    self.error((*base, "min_selected"), f"min_selected is larger than the {n} choices")
                if step.optional and step.min_selected == 0:
                    self.error((*base, "optional"), "min_selected: 0 already makes the question skippable")
            if isinstance(step, model.NumberQuestion):
                if step.min is not None and step.max is not None and step.min > step.max:
                    self.error((*base, "max"), "max is smaller than min")
                if step.integer:
                    for key in ("min", "max"):
                        v = getattr(step, key)
                        if v is not None and v != int(v):
                            self.error((*base, key), f"{key} must be a whole number for an integer question")
            if isinstance(step, model.ScaleQuestion):
                values = [p.value for p in step.points]
                if values != sorted(values):
                    self.error((*base, "points"), "scale points must be listed from the lowest value to the highest")
            if isinstance(step, model.OutcomeStep):
                texts = (
                    step.consultation
                    if isinstance(step.consultation, dict)
                    else dict.fromkeys(self.flow.languages, step.consultation)
                )
                for lang, text in texts.items():
                    if wording.recommends_consultation(text, lang) is False:
                        where = (
                            (*base, "consultation")
                            if isinstance(step.consultation, str)
                            else (*base, "consultation", lang)
                        )
                        self.error(
                            where,
                            f"every ending must recommend a dermatologist consultation; this ({lang}) text does not",
                        )
        if not isinstance(steps[-1], model.OutcomeStep) or steps[-1].when is not None:
            self.error(
                ("steps", len(steps) - 1),
                "a path can end without an outcome: the last step must be an outcome with no `when`",
            )

    # --- conditions ----------------------------------------------------------------------------

    def check_conditions(self) -> None:
        for i, step in enumerate(self.flow.steps):
            if step.when is not None:
                self.check_condition(
                    step.when, ("steps", i, "when"), before=i, outcome=isinstance(step, model.OutcomeStep)
                )
        for i, flag in enumerate(self.flow.flags):
            self.check_condition(flag.when, ("flags", i, "when"), before=None, outcome=False)

    def check_condition(self, cond: Any, path: Path, before: int | None, outcome: bool) -> None:
        if isinstance(cond, model.AllCondition | model.AnyCondition):
            key = "all" if isinstance(cond, model.AllCondition) else "any"
            for j, part in enumerate(getattr(cond, key)):
                self.check_condition(part, (*path, key, j), before, outcome)
            return
        if isinstance(cond, model.NotCondition):
            self.check_condition(cond.not_, (*path, "not"), before, outcome)
            return
        if isinstance(cond, model.FlagCondition | model.SeverityCondition):
            if not outcome:
                self.error(path, "flag and severity conditions can only choose an outcome")
            elif isinstance(cond, model.FlagCondition) and cond.flag not in self.flag_severity:
                self.error((*path, "flag"), f"unknown flag '{cond.flag}'" + did_you_mean(cond.flag, self.flag_severity))
            return
        if isinstance(cond, model.TypedTextCondition):
            if not self.compiler.text_questions:
                self.error(path, "typed_text_mentions needs at least one text question in the flow")
            return
        self.check_question_condition(cond, path, before)

    def check_question_condition(self, cond: model.QuestionCondition, path: Path, before: int | None) -> None:
        ops = operator_of(cond)
        if len(ops) != 1:
            self.error(
                path,
                "a question condition needs exactly one of: "
                + ", ".join(model.OPERATORS)
                + (f" (found {', '.join(ops)})" if ops else ""),
            )
            return
        op = ops[0]
        target = self.steps.get(cond.question)
        if target is None:
            self.error(
                (*path, "question"),
                f"unknown question '{cond.question}'"
                + did_you_mean(cond.question, [s.id for s in self.flow.steps if answerable(s)]),
            )
            return
        if not answerable(target):
            self.error((*path, "question"), f"'{cond.question}' is a {target.kind} step, not a question")
            return
        if before is not None and self.index[cond.question] >= before:
            where = "itself" if self.index[cond.question] == before else "a later question"
            self.error(
                (*path, "question"),
                f"'{cond.question}' is {where}: a condition can only use answers given earlier",
            )
            return
        arg = getattr(cond, op)
        values = answer_values(target)
        kind = answer_kind(target)
        opath = (*path, op)
        if op in ("equals", "one_of"):
            if kind in ("multi", "text"):
                hint = "contains" if kind == "multi" else "mentions"
                self.error(opath, f"'{cond.question}' is {_kind_name(kind)}: use `{hint}`")
                return
            for j, v in enumerate(arg if op == "one_of" else [arg]):
                where = (*opath, j) if op == "one_of" else opath
                self.check_value(v, values, kind, cond.question, where)
        elif op in ("contains", "contains_any"):
            if kind != "multi":
                self.error(opath, f"`{op}` is for multiple-choice questions; '{cond.question}' is {_kind_name(kind)}")
                return
            for j, v in enumerate(arg if op == "contains_any" else [arg]):
                where = (*opath, j) if op == "contains_any" else opath
                self.check_value(v, values, kind, cond.question, where)
        elif op in ("less_than", "at_most", "greater_than", "at_least"):
            if kind not in ("number", "scale"):
                self.error(opath, f"`{op}` compares numbers; '{cond.question}' is {_kind_name(kind)}")
        elif op == "mentions" and kind != "text":
            self.error(opath, f"`mentions` is for text questions; '{cond.question}' is {_kind_name(kind)}")

    def check_value(self, value: Any, values: list | None, kind: str, question: str, path: Path) -> None:
        if kind == "number":
            if not isinstance(value, int | float) or isinstance(value, bool):
                self.error(path, f"'{question}' takes a number, not '{value}'")
            return
        if values is not None and value not in values:
            shown = ", ".join(str(v) for v in values)
            self.error(
                path,
                f"'{question}' has no choice '{value}'"
                + did_you_mean(str(value), [str(v) for v in values])
                + f" (its choices: {shown})",
            )

    # --- paths ---------------------------------------------------------------------------------

    def check_paths(self) -> None:
        steps = self.flow.steps
        reachable = [True] * len(steps)
        cut = None
        for i, step in enumerate(steps):
            if cut is not None:
                reachable[i] = False
                self.error(
                    ("steps", i), f"step '{step.id}' can never be reached: outcome '{cut}' always ends before it"
                )
                continue
            if step.when is not None and not self.satisfiable(step.when, reachable):
                reachable[i] = False
                self.error(("steps", i, "when"), f"step '{step.id}' can never be reached: its `when` can never hold")
            if isinstance(step, model.OutcomeStep) and step.when is None:
                cut = step.id
        consent = next((i for i, s in enumerate(steps) if isinstance(s, model.ConsentStep)), None)
        if consent is not None:
            nxt = self.graph.target(steps[consent].id, Trigger.NEXT, {steps[consent].id: "decline"})
            if nxt is not None and not isinstance(nxt, model.OutcomeStep):
                self.error(
                    ("steps", consent),
                    "declining consent must end the intake: put an outcome with "
                    f"`when: {{question: {steps[consent].id}, equals: decline}}` right after the consent step",
                )

    def satisfiable(self, cond: Any, reachable: list[bool]) -> bool:
        """Whether some answers to the questions ``cond`` reads make it hold (tried exhaustively)."""
        questions = sorted(_questions_in(cond))
        options = []
        for q in questions:
            step = self.steps[q]
            vals: list[Any] = [None] if step.when is not None or getattr(step, "optional", False) else []
            if not reachable[self.index[q]]:
                vals = [None]
            else:
                vals += _sample_answers(step, cond)
            options.append(vals)
        pred = self.compiler.compile(cond)
        flags = [f.id for f in self.flow.flags]
        flag_sets: list[tuple] = [(), tuple(flags)] + [(f,) for f in flags]
        for count, combo in enumerate(itertools.product(*options)):
            if count > 20000:
                return True  # too many to try: assume it can hold rather than cry wolf
            answers = dict(zip(questions, combo, strict=True))
            if any(pred(answers, fs) for fs in flag_sets):
                return True
        return False

    def check_urgent_flags(self) -> None:
        """Each urgent flag stops the questions; the outcome it then reaches must be urgent."""
        steps = self.flow.steps
        last_answer = max((j for j, t in enumerate(steps) if answerable(t)), default=0)
        outcomes = [(i, s) for i, s in enumerate(steps) if isinstance(s, model.OutcomeStep) and i > last_answer]
        urgent_seen_after_plain = False
        for i, outcome in outcomes:
            if outcome.urgent and urgent_seen_after_plain:
                self.error(("steps", i), f"urgent outcome '{outcome.id}' must come before the other endings")
            if not outcome.urgent:
                urgent_seen_after_plain = True
        for fi, flag in enumerate(self.flow.flags):
            if flag.severity != "urgent":
                continue
            # Where the engine's `finish` leads once the flag is raised at the last question.
            chosen = self.graph.target(steps[last_answer].id, Trigger.FINISH, {}, (flag.id,))
            if chosen is None:
                self.error(
                    ("flags", fi),
                    f"urgent flag '{flag.id}' leads to no urgent outcome: add an outcome with "
                    "`urgent: true` and `when: {severity: urgent}` before the other endings",
                )


_KIND_NAMES = {
    "consent": "the consent step",
    "yesno": "a yes/no question",
    "single": "a single-choice question",
    "multi": "a multiple-choice question",
    "number": "a number question",
    "text": "a text question",
    "scale": "a scale question",
}


def _kind_name(kind: str) -> str:
    return _KIND_NAMES.get(kind, f"a {kind} question")


def _questions_in(cond: Any) -> set[str]:
    return {leaf.question for leaf in leaves(cond) if isinstance(leaf, model.QuestionCondition)}


def _sample_answers(step: Any, cond: Any) -> list[Any]:
    """Answers worth trying for ``step``: every choice, or the numbers and words ``cond`` names."""
    kind = answer_kind(step)
    if kind == "multi":
        ids = [c.id for c in step.choices]
        return [[c] for c in ids] + [ids]
    values = answer_values(step)
    if values is not None:
        return list(values)
    found = _literals(cond, step.id)
    if kind == "number":
        nums = {float(v) for v in found if isinstance(v, int | float)}
        return sorted({n + d for n in nums for d in (-1, 0, 1)}) or [0]
    words = [w for v in found if isinstance(v, list) for w in v]
    return [*words, "text"]


def _literals(cond: Any, question: str) -> list[Any]:
    """The values ``cond`` compares ``question``'s answer with."""
    return [
        getattr(leaf, op)
        for leaf in leaves(cond)
        if isinstance(leaf, model.QuestionCondition) and leaf.question == question
        for op in operator_of(leaf)
    ]
