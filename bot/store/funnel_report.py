"""Where patients drop off: the funnel of a period, flow version and source, step by step.

Counted from ``funnel_steps`` (written by turns, ``bot.store.funnel``) in one grouped query along
its covering index: by step and seconds spent, so the exact median is found from a few thousand
rows, not one per person; the intake's start, version and source are in the rows themselves.
Counts only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, tzinfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.store.review import day_range
from bot.store.schema import funnel_steps


@dataclass(frozen=True)
class Period:
    """Which intakes the funnel counts (every field optional): begun from ``since`` to ``until``
    (days in the clinic's zone), on a flow version, from a source."""

    since: date | None = None
    until: date | None = None
    flow_version: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class StepCounts:
    step: str
    reached: int  # people who came to the step
    stopped: int  # ... and are still there (in progress, or gone quiet: abandoned)
    went_back: int  # people who went back from it at least once
    invalid: int  # invalid answers it drew
    skipped: int  # people who went past it without being asked (skip logic)
    median_seconds: float | None  # time spent on it, by those who left it


def funnel(
    conn: Connection, questions: Sequence[str], endings: Sequence[str], period: Period, zone: tzinfo = UTC
) -> list[StepCounts]:
    """The funnel's rows: the flow's questions in order, then its endings, then any step an older
    version had (in the order of their names)."""
    fs = funnel_steps.c
    where = [*day_range(fs.begun, period.since, period.until, zone)]
    if period.flow_version:
        where.append(fs.flow_version == period.flow_version)
    if period.source:
        where.append(fs.source == period.source)
    # One pass along ix_funnel_steps_count, grouped as it is ordered: a row per step and time spent
    # (a few thousand), from which the counts and the exact median are summed up here.
    query = (
        sa.select(
            fs.step,
            fs.seconds,
            sa.func.count(),
            sa.func.sum(sa.case((fs.skipped, 1), else_=0)),
            sa.func.sum(sa.case((fs.here, 1), else_=0)),
            sa.func.sum(sa.case((fs.backs > 0, 1), else_=0)),
            sa.func.sum(fs.invalid),
        )
        .where(*where)
        .group_by(fs.step, fs.seconds)
        .with_hint(funnel_steps, "INDEXED BY ix_funnel_steps_count", dialect_name="sqlite")
    )
    totals: dict[str, list[int]] = {}
    seconds: dict[str, list[tuple[int, int]]] = {}
    for step, value, rows, skipped, here, back, invalid in conn.execute(query):
        sums = totals.setdefault(step, [0, 0, 0, 0, 0])  # reached, skipped, here, went back, invalid
        skipped = int(skipped or 0)
        for i, more in enumerate((int(rows) - skipped, skipped, int(here or 0), int(back or 0), int(invalid or 0))):
            sums[i] += more
        if value is not None:
            seconds.setdefault(step, []).append((int(value), int(rows)))
    known = [*questions, *endings]
    order = known + sorted(set(totals) - set(known))
    final = set(endings)
    rows_out = []
    for step in order:
        reached, skipped, here, back, invalid = totals.get(step, (0, 0, 0, 0, 0))
        if step not in known and not reached and not skipped:
            continue
        # on an ending is where an intake ends, not where a person stopped
        stopped = 0 if step in final else here
        rows_out.append(StepCounts(step, reached, stopped, back, invalid, skipped, _median(seconds.get(step, []))))
    return rows_out


def _median(values: list[tuple[int, int]]) -> float | None:
    """The median of values given with how often each came."""
    total = sum(many for _, many in values)
    if not total:
        return None
    values.sort()
    lower, upper = (total - 1) // 2, total // 2  # the middle one, or the middle two
    found: list[int] = []
    seen = 0
    for value, many in values:
        while len(found) < 2 and seen + many > (lower if not found else upper):
            found.append(value)
        seen += many
        if len(found) == 2:
            break
    return (found[0] + found[1]) / 2
