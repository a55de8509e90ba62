"""The questionnaire page's content: the flow explained to a nurse, from the engine's own rules.

Each step with when it is asked in words (``conditions.in_words``, naming the questions by their
number and words and the answers by their labels), the flags its answer can raise (severity and
staff topic, and for an urgent flag the ending it leads to at once), the endings with their staff
topics and when each is shown, and the safety screens. Nothing here is worked out again: skip
logic, flag rules and where an urgent flag leads are asked of the engine and its graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from bot.engine import Engine
from bot.engine.texts import first_words
from bot.flow import booking, model, sections
from bot.flow.conditions import in_words
from bot.flow.graph import Trigger
from bot.staff.i18n import N_, SEVERITY_WORDS

#: What a person does at each kind of step, for staff (translated where shown).
KIND_WORDS = {
    "yesno": N_("Yes or no"),
    "single": N_("One choice"),
    "multi": N_("Any of the choices"),
    "number": N_("A number"),
    "text": N_("Typed text"),
    "scale": N_("A point on a scale"),
    "info": N_("Text to read"),
    "consent": N_("Consent"),
    "summary": N_("The answers so far, any of them can be changed"),
    "outcome": N_("Ending"),
}


@dataclass(frozen=True)
class FlagLine:
    """A flag as staff read it: severity, topic, when it is raised, and (urgent) where it leads."""

    id: str
    severity: str
    topic: str
    when: str
    staff_only: bool
    #: (outcome id, its topic) of the endings an urgent flag leads to at once
    leads_to: tuple[tuple[str, str], ...] = ()


@dataclass
class StepLine:
    id: str
    kind: str
    kind_words: str
    number: int | None  # questions are numbered Q1, Q2 ... in flow order
    text: str
    options: list[str]
    when: str | None
    flags: list[FlagLine] = field(default_factory=list)
    topic: str | None = None  # an ending's name for staff
    urgent: bool = False
    #: an ending's booking button: the page and the prefill sent to it (None: no button)
    booking: model.Booking | None = None


@dataclass
class PartLines:
    id: str
    title: str
    steps: list[StepLine]


class _StaffWords:
    """Names for ``in_words``: a question by its number and first words, an answer by its label,
    in the flow's words in ``lang`` and the staff pages' words through ``gettext``."""

    def __init__(
        self,
        engine: Engine,
        lang: str,
        gettext: Callable[[str], str],
        numbers: dict[str, int],
        here: str | None = None,
        short: bool = False,
    ):
        self.engine = engine
        self.lang = lang
        self.gettext = gettext
        self.numbers = numbers
        self.here = here  # the question being read about: "the answer"
        self.short = short  # a question by its number alone (the diagram's boxes carry it), a flag by its first words

    def question(self, question_id: str) -> str:
        if question_id == self.here:
            return self.gettext("the answer")
        step = self.engine.steps.get(question_id)
        if isinstance(step, model.ConsentStep):
            return self.gettext("the consent")
        if step is None or question_id not in self.numbers:
            return question_id
        if self.short:
            return f"Q{self.numbers[question_id]}"
        return f"Q{self.numbers[question_id]} “{first_words(self.engine.text(step.ask, self.lang))}”"

    def value(self, question_id: str, value: Any) -> str:
        step = self.engine.steps.get(question_id)
        labels = dict(self.engine.option_labels(step, self.lang)) if step is not None else {}
        label = labels.get(str(value))
        if isinstance(step, model.ScaleQuestion) and label:
            return f"“{value} ({label})”"
        return f"“{label}”" if label else f"“{value}”"

    def flag(self, flag_id: str) -> str:
        rule = next((f for f in self.engine.flow.flags if f.id == flag_id), None)
        if rule is None:
            return flag_id
        topic = self.engine.text(rule.topic, self.lang)
        return first_words(topic, 40) if self.short else topic

    def severity(self, severity: str) -> str:
        return self.gettext(SEVERITY_WORDS.get(severity, severity))


class Questionnaire:
    """The page's content for one engine in one language (built once per language: the flow does
    not change while it runs): the flow's words in ``lang`` where the flow has it (else its
    default language), the page's own words through ``gettext`` (the staff catalogs)."""

    def __init__(self, engine: Engine, lang: str | None = None, gettext: Callable[[str], str] = str):
        self.engine = engine
        flow = engine.flow
        self.lang = lang if lang in flow.languages else flow.default_language
        self.gettext = gettext
        self.numbers = sections.question_numbers(flow)
        self.words = _StaffWords(engine, self.lang, gettext, self.numbers)
        #: the diagram's edges in words: "Q2 is “Yes, in the last 4 weeks” or …"
        self.diagram_words = _StaffWords(engine, self.lang, gettext, self.numbers, short=True)
        self.flags = [self._flag(f) for f in flow.flags]
        #: the flags, most severe first (in the flow's order within a severity)
        self.by_severity = sorted(self.flags, key=lambda f: model.SEVERITY_ORDER.index(f.severity))
        by_question: dict[str, list[FlagLine]] = {}
        for rule, line in zip(flow.flags, self.flags, strict=True):
            for question in sorted(engine.questions_raising(rule.id), key=engine.order.__getitem__):
                here = _StaffWords(engine, self.lang, gettext, self.numbers, question)  # "the answer is “Yes”"
                by_question.setdefault(question, []).append(replace(line, when=in_words(rule.when, here)))
        self.parts: list[PartLines] = []
        for part in sections.parts(flow):
            steps = [self._step(engine.steps[s], by_question.get(s, [])) for s in part.steps]
            self.parts.append(PartLines(part.id, self._title(part), steps))
        self.screens = [self._screen(s) for s in flow.safety]

    def part_ids(self) -> list[str]:
        return [p.id for p in self.parts]

    def _title(self, part: sections.Part) -> str:
        if part.id == sections.START:
            return self.gettext("Start")
        if part.id == sections.END:
            return self.gettext("Summary and endings")
        return self.engine.text(part.title, self.lang) if part.title is not None else part.id

    def _step(self, step: Any, flags: list[FlagLine]) -> StepLine:
        kind = getattr(step, "answer", None) or step.kind
        text = self.engine.text(getattr(step, "ask", None) or getattr(step, "text", None), self.lang)
        options = [label for _, label in self.engine.option_labels(step, self.lang)]
        when = in_words(step.when, self.words) if step.when is not None else None
        kind_words = self.gettext(KIND_WORDS[kind]) if kind in KIND_WORDS else kind
        line = StepLine(step.id, kind, kind_words, self.numbers.get(step.id), text, options, when, flags)
        if isinstance(step, model.OutcomeStep):
            line.topic = self.engine.outcome_topic(step.id, self.lang)
            line.urgent = step.urgent
            line.booking = booking.of_ending(self.engine.flow, step)
        return line

    def _flag(self, rule: model.FlagRule) -> FlagLine:
        topic = self.engine.text(rule.topic, self.lang)
        if rule.when is None:
            screens = [s for s in self.engine.flow.safety if s.flag == rule.id]
            when = (
                self.gettext("a typed message has words the safety screen looks for")
                if screens
                else self.gettext("never (no rule raises it)")
            )
            leads = [self._ending(s.outcome) for s in screens if s.outcome]
            return FlagLine(rule.id, rule.severity, topic, when, rule.staff_only, tuple(leads))
        leads: list[tuple[str, str]] = []
        if rule.id in self.engine.urgent_flags:
            for question in sorted(self.engine.questions_raising(rule.id), key=self.engine.order.__getitem__):
                ending = self.engine.graph.target(question, Trigger.FINISH, {}, {rule.id})
                if ending is not None and (found := self._ending(ending.id)) not in leads:
                    leads.append(found)
        return FlagLine(rule.id, rule.severity, topic, in_words(rule.when, self.words), rule.staff_only, tuple(leads))

    def _ending(self, outcome_id: str) -> tuple[str, str]:
        return outcome_id, self.engine.outcome_topic(outcome_id, self.lang)

    def _screen(self, screen: model.SafetyScreen) -> dict[str, Any]:
        flag = next(line for line in self.flags if line.id == screen.flag)
        phrases = screen.phrases.get(self.lang) or next(iter(screen.phrases.values()), [])
        return {
            "id": screen.id,
            "flag": flag,
            "examples": phrases[:6],
            "count": sum(len(p) for p in screen.phrases.values()),
            "asks_first": bool(screen.ask_first),
            "outcome": self._ending(screen.outcome) if screen.outcome else None,
        }
