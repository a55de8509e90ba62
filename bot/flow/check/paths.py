"""Paths: every step reachable, declining consent ends the intake, and every urgent flag leads to
urgent care (asked of ``bot.flow.graph``, the rules the engine runs)."""

from __future__ import annotations

import itertools
from typing import Any

from bot.flow import model
from bot.flow.check.context import Context
from bot.flow.conditions import operator_of
from bot.flow.graph import Trigger, answer_kind, answer_values, answerable, leaves


def check_paths(ctx: Context) -> None:
    steps = ctx.flow.steps
    reachable = [True] * len(steps)
    cut = None
    for i, step in enumerate(steps):
        if cut is not None:
            reachable[i] = False
            ctx.error(("steps", i), f"step '{step.id}' can never be reached: outcome '{cut}' always ends before it")
            continue
        if step.when is not None and not satisfiable(ctx, step.when, reachable):
            reachable[i] = False
            ctx.error(("steps", i, "when"), f"step '{step.id}' can never be reached: its `when` can never hold")
        if isinstance(step, model.OutcomeStep) and step.when is None:
            cut = step.id
    consent = next((i for i, s in enumerate(steps) if isinstance(s, model.ConsentStep)), None)
    if consent is not None:
        nxt = ctx.graph.target(steps[consent].id, Trigger.NEXT, {steps[consent].id: "decline"})
        if nxt is not None and not isinstance(nxt, model.OutcomeStep):
            ctx.error(
                ("steps", consent),
                "declining consent must end the intake: put an outcome with "
                f"`when: {{question: {steps[consent].id}, equals: decline}}` right after the consent step",
            )


def satisfiable(ctx: Context, cond: Any, reachable: list[bool]) -> bool:
    """Whether some answers to the questions ``cond`` reads make it hold (tried exhaustively)."""
    questions = sorted(_questions_in(cond))
    options = []
    for q in questions:
        step = ctx.steps[q]
        vals: list[Any] = [None] if step.when is not None or getattr(step, "optional", False) else []
        if not reachable[ctx.index[q]]:
            vals = [None]
        else:
            vals += _sample_answers(step, cond)
        options.append(vals)
    pred = ctx.compiler.compile(cond)
    flags = [f.id for f in ctx.flow.flags]
    flag_sets: list[tuple] = [(), tuple(flags)] + [(f,) for f in flags]
    for count, combo in enumerate(itertools.product(*options)):
        if count > 20000:
            return True  # too many to try: assume it can hold rather than cry wolf
        answers = dict(zip(questions, combo, strict=True))
        if any(pred(answers, fs) for fs in flag_sets):
            return True
    return False


def check_urgent_flags(ctx: Context) -> None:
    """Each urgent flag stops the questions; the outcome it then reaches must be urgent."""
    steps = ctx.flow.steps
    last_answer = max((j for j, t in enumerate(steps) if answerable(t)), default=0)
    outcomes = [(i, s) for i, s in enumerate(steps) if isinstance(s, model.OutcomeStep) and i > last_answer]
    urgent_seen_after_plain = False
    for i, outcome in outcomes:
        if outcome.urgent and urgent_seen_after_plain:
            ctx.error(("steps", i), f"urgent outcome '{outcome.id}' must come before the other endings")
        if not outcome.urgent:
            urgent_seen_after_plain = True
    for fi, flag in enumerate(ctx.flow.flags):
        if flag.severity != "urgent" or flag.when is None:
            continue  # a screen's flag does not stop the questions
        # Where the engine's `finish` leads once the flag is raised at the last question.
        chosen = ctx.graph.target(steps[last_answer].id, Trigger.FINISH, {}, (flag.id,))
        if chosen is None:
            ctx.error(
                ("flags", fi),
                f"urgent flag '{flag.id}' leads to no urgent outcome: add an outcome with "
                "`urgent: true` and `when: {severity: urgent}` before the other endings",
            )


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
