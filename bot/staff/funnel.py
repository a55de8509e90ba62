"""The Funnel page: where patients drop off, step by step, for a period, flow version and source.

Counts only (``bot.store.funnel_report``), and none under ``SMALL`` shown as it is: a count of one
to four becomes "<5", and a median time left by fewer than ``SMALL`` people is not shown, so that
no person can be picked out. The chart is SVG drawn here (no script, no network: the pages' CSP
allows inline SVG, not inline script), the CSV the same table.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, tzinfo

import sqlalchemy as sa

from bot.engine import Engine
from bot.flow import model
from bot.staff.filters import parse_day
from bot.staff.i18n import N_
from bot.store import Store
from bot.store.funnel_report import Period, StepCounts, funnel
from bot.store.schema import intakes

#: Counts below this are shown as "<5".
SMALL = 5
MASKED = f"<{SMALL}"
COLUMNS = ("step", "reached", "stopped", "went_back", "invalid", "skipped", "median_seconds")
#: The chart's geometry (SVG user units; the image scales to the page's width).
CHART_WIDTH, LABEL_WIDTH, BAR_HEIGHT, GAP = 360, 150, 14, 6


def shown(count: int) -> str:
    """A count as the page shows it: none under SMALL (but 0) as it is."""
    return MASKED if 0 < count < SMALL else str(count)


@dataclass(frozen=True)
class Row:
    """One step's line of the table, already masked."""

    step: str
    reached: str
    stopped: str
    went_back: str
    invalid: str
    skipped: str
    median: str  # seconds, "" when not shown

    @classmethod
    def of(cls, counts: StepCounts) -> Row:
        left = counts.reached - counts.stopped  # those who left it have a time on it
        median = "" if counts.median_seconds is None or left < SMALL else f"{counts.median_seconds:g}"
        return cls(
            counts.step,
            shown(counts.reached),
            shown(counts.stopped),
            shown(counts.went_back),
            shown(counts.invalid),
            shown(counts.skipped),
            median,
        )


@dataclass(frozen=True)
class Bar:
    """One step's bars on the chart: reached, and of them stopped (lengths in SVG units)."""

    step: str
    y: int
    reached: float
    stopped: float
    masked: bool  # a small count: drawn as SMALL, marked lighter


@dataclass
class Report:
    period: Period
    rows: list[Row] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    height: int = 0  # of the chart

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for row in self.rows:
            writer.writerow(
                [_cell(row.step), row.reached, row.stopped, row.went_back, row.invalid, row.skipped, row.median]
            )
        return out.getvalue()


def _cell(text: str) -> str:
    """A step id cannot begin a formula in a spreadsheet (ids are plain, but say so once)."""
    return "'" + text if text[:1] in "=+-@" else text


def period_from(query: dict[str, str]) -> tuple[Period, list[str]]:
    """The period asked for in the page's query, and what could not be read (message ids)."""
    errors: list[str] = []

    def day(name: str, error: str):
        text = query.get(name, "").strip()
        if not text:
            return None
        try:
            return parse_day(text)
        except ValueError:
            errors.append(error)
            return None

    since = day("since", N_("“From” must be a date (YYYY-MM-DD)."))
    until = day("until", N_("“To” must be a date (YYYY-MM-DD)."))
    if since and until and since > until:
        errors.append(N_("“From” is after “To”: nobody can have begun between them."))
    version = query.get("version", "").strip()[:32] or None
    source = query.get("source", "").strip()[:64] or None
    return Period(since, until, version, source), errors


class Funnel:
    """What the Funnel page reads: one transaction a report (run on the staff threads)."""

    def __init__(self, store: Store, engine: Engine, zone: tzinfo = UTC):
        self.store = store
        self.zone = zone
        steps = engine.flow.steps
        self.questions = [s.id for s in steps if not isinstance(s, model.OutcomeStep)]
        self.endings = [s.id for s in steps if isinstance(s, model.OutcomeStep)]

    def report(self, period: Period, read: Callable[..., list[StepCounts]] = funnel) -> Report:
        with self.store.transaction(read_only=True) as tx:
            counts = read(tx.conn, self.questions, self.endings, period, self.zone)
            versions = [v for (v,) in tx.conn.execute(sa.select(intakes.c.flow_version).distinct()) if v]
            sources = [s for (s,) in tx.conn.execute(sa.select(intakes.c.source).distinct()) if s]
        report = Report(period, [Row.of(c) for c in counts], versions=sorted(versions), sources=sorted(sources))
        top = max([c.reached for c in counts] + [SMALL])
        scale = (CHART_WIDTH - LABEL_WIDTH) / top
        drawn = [c for c in counts if c.reached]
        for i, c in enumerate(drawn):
            reached = max(c.reached, SMALL)  # a small count is drawn as SMALL: its length tells nothing
            stopped = max(c.stopped, SMALL) if c.stopped else 0
            report.bars.append(
                Bar(c.step, i * (BAR_HEIGHT + GAP), reached * scale, min(stopped, reached) * scale, c.reached < SMALL)
            )
        report.height = max(len(drawn) * (BAR_HEIGHT + GAP), BAR_HEIGHT)
        return report
