"""Where patients drop off: the funnel of a period, flow version and source, step by step.

Counted from ``funnel_steps`` (written by turns, ``bot.store.funnel``) joined with the intakes it
belongs to, in three grouped queries: per step; the seconds spent per step (grouped by value, so
the exact median is found from a few thousand rows, not one per person); and how far each person
got (to tell a step hidden by skip logic from one a person never reached). Counts only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, tzinfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.store.records import IntakeStatus
from bot.store.review import day_range
from bot.store.schema import funnel_steps, intakes

#: Where a person who stopped is counted: still on the step, or gone quiet there.
OPEN = (IntakeStatus.IN_PROGRESS.value, IntakeStatus.ABANDONED.value)


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
    where = [*day_range(intakes.c.created_at, period.since, period.until, zone)]
    if period.flow_version:
        where.append(intakes.c.flow_version == period.flow_version)
    if period.source:
        where.append(intakes.c.source == period.source)
    joined = funnel_steps.join(intakes, intakes.c.id == funnel_steps.c.intake_id)
    fs = funnel_steps.c
    stopped = sa.and_(fs.here, intakes.c.status.in_(OPEN))
    per_step = (
        sa.select(
            fs.step,
            sa.func.count(),
            sa.func.sum(sa.case((stopped, 1), else_=0)),
            sa.func.sum(sa.case((fs.backs > 0, 1), else_=0)),
            sa.func.sum(fs.invalid),
        )
        .select_from(joined)
        .where(*where)
        .group_by(fs.step)
    )
    counts = {row[0]: tuple(int(v or 0) for v in row[1:]) for row in conn.execute(per_step)}
    spent = (
        sa.select(fs.step, fs.seconds, sa.func.count())
        .select_from(joined)
        .where(*where, fs.seconds.isnot(None))
        .group_by(fs.step, fs.seconds)
    )
    seconds: dict[str, list[tuple[int, int]]] = {}
    for step, value, many in conn.execute(spent):
        seconds.setdefault(step, []).append((int(value), int(many)))
    beyond = _beyond(conn, joined, where, questions)
    known = [*questions, *endings]
    order = known + sorted(set(counts) - set(known))
    rows = []
    for position, step in enumerate(order):
        reached, stop, back, invalid = counts.get(step, (0, 0, 0, 0))
        skipped = 0
        if position < len(questions):
            # went past it (got further) minus those of them who were asked it
            skipped = max(0, beyond[position] - (reached - beyond.get(("last", position), 0)))
        if not reached and not skipped and step not in known:
            continue
        rows.append(StepCounts(step, reached, stop, back, invalid, skipped, _median(seconds.get(step, []))))
    return rows


def _beyond(conn: Connection, joined: sa.FromClause, where: list, questions: Sequence[str]) -> dict:
    """For each question's position: how many people got further than it; and under ``("last",
    position)`` how many got no further than it (so ``reached - last`` of them went on)."""
    n = len(questions)
    if not n:
        return {}
    fs = funnel_steps.c
    place = sa.case({step: i for i, step in enumerate(questions)}, value=fs.step, else_=n)
    furthest = sa.select(sa.func.max(place).label("furthest")).select_from(joined).where(*where).group_by(fs.intake_id)
    inner = furthest.subquery()
    histogram = dict(conn.execute(sa.select(inner.c.furthest, sa.func.count()).group_by(inner.c.furthest)).all())
    out: dict = {}
    total = 0
    for position in range(n, -1, -1):
        out[position] = total  # people whose furthest is beyond this position
        total += int(histogram.get(position, 0))
    for position in range(n):
        out[("last", position)] = int(histogram.get(position, 0))
    return out


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
