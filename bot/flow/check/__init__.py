"""Static checks on a structurally valid flow: everything a schema cannot say.

Each module checks one thing (``ids``, ``texts``, ``steps``, ``conditions``, ``paths``) and
reports through the shared ``Context``; path analysis asks ``bot.flow.graph`` what the engine
will do rather than working it out again. Paths are analysed only once the references are sound.
"""

from __future__ import annotations

from bot.flow import model
from bot.flow.check import conditions, ids, paths, safety, steps, texts
from bot.flow.check.context import Context
from bot.flow.problems import Problem, SourceMap


def check_flow(flow: model.Flow, source: SourceMap) -> list[Problem]:
    """Every problem found in ``flow``; an empty list means the flow can be used."""
    ctx = Context(flow, source)
    ids.check_metadata(ctx)
    ids.check_ids(ctx)
    texts.check_texts(ctx)
    texts.check_messages(ctx)
    texts.check_bookings(ctx)
    steps.check_steps(ctx)
    conditions.check_conditions(ctx)
    safety.check_safety(ctx)
    if not ctx.problems:  # path analysis needs sound references
        paths.check_paths(ctx)
        paths.check_urgent_flags(ctx)
    return sorted(ctx.problems)
