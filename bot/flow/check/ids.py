"""Languages, sections, and ids: each listed once."""

from __future__ import annotations

from bot.flow.check.context import Context
from bot.flow.problems import did_you_mean


def check_metadata(ctx: Context) -> None:
    flow = ctx.flow
    seen: set[str] = set()
    for i, lang in enumerate(flow.languages):
        if lang in seen:
            ctx.error(("languages", i), f"language '{lang}' is listed twice")
        seen.add(lang)
    if flow.default_language not in flow.languages:
        ctx.error(
            ("default_language",),
            f"default language '{flow.default_language}' is not in languages"
            + did_you_mean(flow.default_language, flow.languages),
        )
    for i, section in enumerate(flow.sections):
        if [s.id for s in flow.sections].index(section.id) != i:
            ctx.error(("sections", i, "id"), f"duplicate section id '{section.id}'")


def check_ids(ctx: Context) -> None:
    seen: dict[str, int] = {}
    for i, step in enumerate(ctx.flow.steps):
        if step.id in seen:
            line = ctx.source.value_at(("steps", seen[step.id], "id"))[0]
            ctx.error(("steps", i, "id"), f"duplicate step id '{step.id}' (first used on line {line})")
        else:
            seen[step.id] = i
        ids = [c.id for c in getattr(step, "choices", [])]
        for j, cid in enumerate(ids):
            if ids.index(cid) != j:
                ctx.error(("steps", i, "choices", j, "id"), f"duplicate choice id '{cid}' in '{step.id}'")
        values = [p.value for p in getattr(step, "points", [])]
        for j, value in enumerate(values):
            if values.index(value) != j:
                ctx.error(("steps", i, "points", j, "value"), f"duplicate scale value {value} in '{step.id}'")
    flag_ids: dict[str, int] = {}
    for i, flag in enumerate(ctx.flow.flags):
        if flag.id in flag_ids:
            ctx.error(("flags", i, "id"), f"duplicate flag id '{flag.id}'")
        flag_ids.setdefault(flag.id, i)
