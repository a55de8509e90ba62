"""Which part of a flow each step belongs to, and each question's number, for people reading the
flow (the questionnaire page, its diagram one section at a time).

A question names its ``section``; every other step (an info text, an ending such as "under 18")
belongs where it stands: with the step before it. Steps before the first section are the start
(welcome, consent, consent declined); the summary and everything after it are the end (the
endings). Those two parts have ids no flow can give a section (``Id`` starts with a letter).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.flow import model
from bot.flow.graph import answerable

START = "_start"
END = "_end"


@dataclass(frozen=True)
class Part:
    id: str
    #: the section's title in the flow (None for the start and the end: the page names those)
    title: model.Text | None
    steps: tuple[str, ...]


def parts(flow: model.Flow) -> list[Part]:
    """The flow's parts in order, each with its step ids; a section no step names is left out."""
    found: dict[str, list[str]] = {}
    current = START
    for step in flow.steps:
        if isinstance(step, model.SummaryStep):
            current = END
        elif current != END and getattr(step, "section", None):
            current = step.section
        found.setdefault(current, []).append(step.id)
    titles = {s.id: s.title for s in flow.sections}
    return [Part(part, titles.get(part), tuple(steps)) for part, steps in found.items()]


def part_of(flow: model.Flow) -> dict[str, str]:
    """Each step id -> the id of its part."""
    return {step: part.id for part in parts(flow) for step in part.steps}


def question_numbers(flow: model.Flow) -> dict[str, int]:
    """Each question's number for staff (Q1, Q2 ...), in flow order; the consent is not one."""
    questions = [s.id for s in flow.steps if answerable(s) and not isinstance(s, model.ConsentStep)]
    return {step_id: n for n, step_id in enumerate(questions, 1)}
