"""Conditions: on questions asked earlier, with operators that fit the answer type and values
the question can take; flag and severity tests only where an outcome is chosen."""

from __future__ import annotations

from typing import Any

from bot.flow import model
from bot.flow.check.context import Context
from bot.flow.conditions import operator_of
from bot.flow.graph import answer_kind, answer_values, answerable
from bot.flow.problems import Path, did_you_mean

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


def check_conditions(ctx: Context) -> None:
    for i, step in enumerate(ctx.flow.steps):
        if step.when is not None:
            check_condition(ctx, step.when, ("steps", i, "when"), before=i, outcome=isinstance(step, model.OutcomeStep))
        for j, paragraph in enumerate(getattr(step, "paragraphs", [])):
            if paragraph.when is not None:
                check_condition(ctx, paragraph.when, ("steps", i, "paragraphs", j, "when"), before=i, outcome=True)
    for i, flag in enumerate(ctx.flow.flags):
        if flag.when is None:
            continue  # raised by a safety screen (checked in ``safety``)
        check_condition(ctx, flag.when, ("flags", i, "when"), before=None, outcome=False)
        if flag.staff_only and flag.severity == "urgent":
            ctx.error(
                ("flags", i, "staff_only"),
                "an urgent flag shows the person an urgent ending at once, so it cannot be staff-only",
            )


def check_condition(ctx: Context, cond: Any, path: Path, before: int | None, outcome: bool) -> None:
    if isinstance(cond, model.AllCondition | model.AnyCondition):
        key = "all" if isinstance(cond, model.AllCondition) else "any"
        for j, part in enumerate(getattr(cond, key)):
            check_condition(ctx, part, (*path, key, j), before, outcome)
        return
    if isinstance(cond, model.NotCondition):
        check_condition(ctx, cond.not_, (*path, "not"), before, outcome)
        return
    if isinstance(cond, model.FlagCondition | model.SeverityCondition):
        if not outcome:
            ctx.error(path, "flag and severity conditions can only choose an outcome")
        elif isinstance(cond, model.FlagCondition) and cond.flag not in ctx.flag_severity:
            ctx.error((*path, "flag"), f"unknown flag '{cond.flag}'" + did_you_mean(cond.flag, ctx.flag_severity))
        return
    if isinstance(cond, model.TypedTextCondition):
        if not ctx.compiler.text_questions:
            ctx.error(path, "typed_text_mentions needs at least one text question in the flow")
        return
    check_question_condition(ctx, cond, path, before)


def check_question_condition(ctx: Context, cond: model.QuestionCondition, path: Path, before: int | None) -> None:
    ops = operator_of(cond)
    if len(ops) != 1:
        ctx.error(
            path,
            "a question condition needs exactly one of: "
            + ", ".join(model.OPERATORS)
            + (f" (found {', '.join(ops)})" if ops else ""),
        )
        return
    op = ops[0]
    target = ctx.steps.get(cond.question)
    if target is None:
        ctx.error(
            (*path, "question"),
            f"unknown question '{cond.question}'"
            + did_you_mean(cond.question, [s.id for s in ctx.flow.steps if answerable(s)]),
        )
        return
    if not answerable(target):
        ctx.error((*path, "question"), f"'{cond.question}' is a {target.kind} step, not a question")
        return
    if before is not None and ctx.index[cond.question] >= before:
        where = "itself" if ctx.index[cond.question] == before else "a later question"
        ctx.error(
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
            ctx.error(opath, f"'{cond.question}' is {_kind_name(kind)}: use `{hint}`")
            return
        for j, v in enumerate(arg if op == "one_of" else [arg]):
            where = (*opath, j) if op == "one_of" else opath
            check_value(ctx, v, values, kind, cond.question, where)
    elif op in ("contains", "contains_any"):
        if kind != "multi":
            ctx.error(opath, f"`{op}` is for multiple-choice questions; '{cond.question}' is {_kind_name(kind)}")
            return
        for j, v in enumerate(arg if op == "contains_any" else [arg]):
            where = (*opath, j) if op == "contains_any" else opath
            check_value(ctx, v, values, kind, cond.question, where)
    elif op in ("less_than", "at_most", "greater_than", "at_least"):
        if kind not in ("number", "scale"):
            ctx.error(opath, f"`{op}` compares numbers; '{cond.question}' is {_kind_name(kind)}")
    elif op == "mentions" and kind != "text":
        ctx.error(opath, f"`mentions` is for text questions; '{cond.question}' is {_kind_name(kind)}")


def check_value(ctx: Context, value: Any, values: list | None, kind: str, question: str, path: Path) -> None:
    if kind == "number":
        if not isinstance(value, int | float) or isinstance(value, bool):
            ctx.error(path, f"'{question}' takes a number, not '{value}'")
        return
    if values is not None and value not in values:
        shown = ", ".join(str(v) for v in values)
        ctx.error(
            path,
            f"'{question}' has no choice '{value}'"
            + did_you_mean(str(value), [str(v) for v in values])
            + f" (its choices: {shown})",
        )
