"""The flow's rules, written once: what comes next, where an urgent flag leads, what is answerable.

The engine builds its state machine from these rules and the checker asks them what the engine
will do, so a change to skip logic changes both at once. Two ways to move forward:

- ``NEXT``: to the first later step whose ``when`` holds (skip logic). From each step the
  candidates are the following steps up to the first one without a condition, tried in order.
- ``FINISH``: to the first later *urgent* outcome whose ``when`` holds; taken when an urgent flag
  is raised, so safety comes before any further question.

Condition trees are walked here too (``parts``, ``leaves``, ``reads``); the three interpreters
of a condition (compiled to a predicate, described in words, checked by the checker) dispatch on
its kind and use these for everything composite.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.flow import model
from bot.flow.conditions import Compiler, Predicate

Answers = Mapping[str, Any]


class Trigger(StrEnum):
    """The machine's events that move a conversation forward (their names in transitions)."""

    NEXT = "next"
    FINISH = "finish"


# --- steps ---------------------------------------------------------------------------------------

#: Steps whose answer is stored (the consent step's agree/decline included).
ANSWERABLE: tuple[type, ...] = (*model.QUESTION_TYPES, model.ConsentStep)


def answerable(step: Any) -> bool:
    """Whether ``step`` stores an answer: a question, or the consent step."""
    return isinstance(step, ANSWERABLE)


def answer_kind(step: Any) -> str:
    """``consent`` for the consent step, else the question's answer type (yesno, single, ...)."""
    return "consent" if isinstance(step, model.ConsentStep) else step.answer


def answer_values(step: Any) -> list[Any] | None:
    """The values a stored answer to ``step`` can take, where they are a fixed list (scale
    points as numbers); None for number and text questions."""
    if isinstance(step, model.ConsentStep):
        return ["agree", "decline"]
    if isinstance(step, model.YesNoQuestion):
        return ["yes", "no"]
    if isinstance(step, model.SingleQuestion | model.MultiQuestion):
        return [c.id for c in step.choices]
    if isinstance(step, model.ScaleQuestion):
        return [p.value for p in step.points]
    return None


def option_ids(step: Any) -> list[str]:
    """The ids of the options a person can pick at ``step`` (scale points as text, as buttons
    carry them); empty for steps without options."""
    return [str(v) for v in answer_values(step) or ()]


def fits(step: Any, value: Any) -> bool:
    """Whether ``value``, stored as an answer, is one ``step`` can hold: the kind of value its
    answer type stores (a choice id that is still among its choices, a number, ...), or None for a
    skip. An answer stored under an earlier edition of the flow may not fit (the step is gone, or
    was retyped, or lost that choice); the engine sets it aside and staff see it marked."""
    if not answerable(step):
        return False
    if value is None:
        return True
    if isinstance(step, model.NumberQuestion):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return number and (not step.integer or float(value).is_integer())
    if isinstance(step, model.TextQuestion):
        return isinstance(value, str)
    allowed = answer_values(step) or ()
    if isinstance(step, model.MultiQuestion):
        return isinstance(value, list) and all(isinstance(v, str) and v in allowed for v in value)
    if isinstance(value, bool):  # True == 1: never a scale point
        return False
    return value in allowed


# --- condition trees -------------------------------------------------------------------------------

#: Stands for "every typed answer" in what a condition reads; not a valid step id.
TYPED_TEXT = "*typed text*"


def parts(cond: Any) -> tuple[Any, ...]:
    """The sub-conditions of ``all``, ``any`` and ``not``; none for a leaf."""
    if isinstance(cond, model.AllCondition):
        return tuple(cond.all)
    if isinstance(cond, model.AnyCondition):
        return tuple(cond.any)
    if isinstance(cond, model.NotCondition):
        return (cond.not_,)
    return ()


def leaves(cond: Any) -> Iterator[Any]:
    """Every leaf of a condition tree (question, flag, severity and typed-text tests), in order."""
    inner = parts(cond)
    if not inner and not isinstance(cond, model.AllCondition | model.AnyCondition | model.NotCondition):
        yield cond
        return
    for part in inner:
        yield from leaves(part)


def reads(cond: Any) -> frozenset[str]:
    """The question ids a condition reads; ``TYPED_TEXT`` for a test on every typed answer."""
    found: set[str] = set()
    for leaf in leaves(cond):
        if isinstance(leaf, model.QuestionCondition):
            found.add(leaf.question)
        elif isinstance(leaf, model.TypedTextCondition):
            found.add(TYPED_TEXT)
    return frozenset(found)


# --- the graph -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edge:
    """One way from ``source`` to ``dest`` by ``trigger``, taken when ``when`` holds (None: always)."""

    trigger: Trigger
    source: str
    dest: str
    when: Any  # the destination's condition model, or None
    predicate: Predicate | None


class FlowGraph:
    """The steps of one flow as a graph, with every condition compiled once.

    It tolerates a flow with duplicate step ids (the checker reports them): an id refers to its
    first step.
    """

    def __init__(self, flow: model.Flow):
        self.flow = flow
        self.steps = list(flow.steps)
        self.by_id: dict[str, Any] = {}
        self.index: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            self.by_id.setdefault(step.id, step)
            self.index.setdefault(step.id, i)
        self.flag_severity = {f.id: f.severity for f in flow.flags}
        self.text_questions: tuple[str, ...] = tuple(s.id for s in self.steps if isinstance(s, model.TextQuestion))
        # A staff-only flag never chooses an ending by its severity: the patient would be sent to
        # an ending about points it does not list to them. A `flag:` condition still sees it.
        self.compiler = Compiler(self.text_questions, {f.id: f.severity for f in flow.flags if not f.staff_only})
        self.shown: dict[str, Predicate | None] = {}
        for step in self.steps:
            self.shown.setdefault(step.id, self.compiler.compile(step.when) if step.when is not None else None)
        #: urgent flags that stop the questions at once (a screen's flag offers a choice instead)
        self.urgent_flags = frozenset(f.id for f in flow.flags if f.severity == "urgent" and f.when is not None)
        #: every urgent flag, screens' included: an intake with one raised is urgent for staff
        self.urgent_marks = frozenset(f.id for f in flow.flags if f.severity == "urgent")
        #: flags raised only by a safety screen (no ``when``); they stay raised
        self.screen_flags = frozenset(f.id for f in flow.flags if f.when is None)

    def compile(self, cond: Any) -> Predicate:
        return self.compiler.compile(cond)

    # --- where a conversation goes ---------------------------------------------------------------

    def candidates(self, source: str, trigger: Trigger) -> list[Any]:
        """The steps ``trigger`` may lead to from ``source``, in the order they are tried: later
        steps (for FINISH only urgent outcomes) up to the first one shown without a condition."""
        found: list[Any] = []
        if trigger is Trigger.FINISH and not self.urgent_flags:
            return found
        for later in self.steps[self.index[source] + 1 :]:
            if trigger is Trigger.FINISH and not (isinstance(later, model.OutcomeStep) and later.urgent):
                continue
            found.append(later)
            if later.when is None:
                break
        return found

    def edges(self) -> Iterator[Edge]:
        """Every transition of the machine, in the order the engine tries them."""
        for step in self.steps:
            if isinstance(step, model.OutcomeStep):
                continue
            for trigger in Trigger:
                for later in self.candidates(step.id, trigger):
                    yield Edge(trigger, step.id, later.id, later.when, self.shown[later.id])

    def target(self, source: str, trigger: Trigger, answers: Answers, flags: Collection[str] = ()) -> Any | None:
        """The step ``trigger`` leads to from ``source`` with these answers and flags raised."""
        for later in self.candidates(source, trigger):
            predicate = self.shown[later.id]
            if predicate is None or predicate(answers, flags):
                return later
        return None

    # --- flags -----------------------------------------------------------------------------------

    def questions_read(self, cond: Any) -> frozenset[str]:
        """The question ids a condition reads, a typed-text test standing for every text question."""
        found = reads(cond)
        if TYPED_TEXT in found:
            found = (found - {TYPED_TEXT}) | frozenset(self.text_questions)
        return found
