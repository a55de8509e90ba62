"""The Funnel page: where patients drop off, step by step, for a period, flow version and source.

Counts only (``bot.store.funnel_report``), and none under ``SMALL`` shown as it is: a count of one
to four becomes "<5", and a median time left by fewer than ``SMALL`` people is not shown, so that
no person can be picked out. The chart is SVG drawn here (no script, no network: the pages' CSP
allows inline SVG, not inline script), the CSV the same table.

Steps are named in words (``StepLabels``): a question as the flow asks it, a step that asks nothing
by its kind, with its section, from the questionnaire page's words (``Questionnaire``); a step in
the rows that the flow no longer has (it was edited since) by its id.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, tzinfo

import sqlalchemy as sa

from bot.engine import Engine
from bot.engine.texts import first_words
from bot.flow import model
from bot.staff.filters import parse_day
from bot.staff.i18n import N_
from bot.staff.questionnaire import Questionnaire, StepLine
from bot.store import Store
from bot.store.funnel_report import Period, StepCounts, funnel
from bot.store.schema import intakes

#: Counts below this are shown as "<5".
SMALL = 5
MASKED = f"<{SMALL}"
COLUMNS = ("step", "question", "reached", "stopped", "went_back", "invalid", "skipped", "median_seconds")
#: The chart's geometry (SVG user units; the image scales to the page's width).
CHART_WIDTH, LABEL_WIDTH, BAR_HEIGHT, GAP = 360, 150, 14, 6
#: How much of a question the table shows, and the chart: its labels do not wrap, and 22 letters
#: at 11 units fit the 150 units before the bars (checked at a 390 px phone in the browser test).
TABLE_CHARS, CHART_CHARS = 80, 22
#: Steps that ask nothing, named by their kind (the first step, an information text, is the welcome).
WELCOME = N_("Welcome text")
KIND_NAMES = {"consent": N_("Consent"), "summary": N_("Summary")}
GONE = N_("(no longer in the questionnaire)")


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

    def csv(self, labels: StepLabels) -> str:
        """The table, each step with its words in full (``labels``: the page's language)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for row in self.rows:
            question = labels[row.step].words
            writer.writerow(
                [
                    *map(_cell, (row.step, question)),
                    *(row.reached, row.stopped, row.went_back, row.invalid, row.skipped, row.median),
                ]
            )
        return out.getvalue()


def _cell(text: str) -> str:
    """A cell cannot begin a formula in a spreadsheet (a step id is plain, a question a flow
    author's words: say so once for both)."""
    return "'" + text if text[:1] in "=+-@" else text


@dataclass(frozen=True)
class Label:
    """A step as the Funnel page names it."""

    words: str  # in full: the question as asked, or the step's kind; a tooltip, the CSV's question
    short: str  # cut for the table
    chart: str  # cut shorter for the chart's label column
    section: str  # its section's title; "" for a step no longer in the questionnaire
    gone: bool = False


class StepLabels:
    """Every step's ``Label`` in one page language, from the questionnaire page's words: the flow's
    text in the page's language where the flow has it (else its default), the page's own through
    the staff catalogs."""

    def __init__(self, guide: Questionnaire):
        self.gettext = guide.gettext
        steps = guide.engine.flow.steps
        welcome = steps[0].id if steps and isinstance(steps[0], model.InfoStep) else None
        self.known = {
            line.id: self._label(line, part.title, line.id == welcome) for part in guide.parts for line in part.steps
        }

    def __getitem__(self, step_id: str) -> Label:
        found = self.known.get(step_id)
        if found is not None:
            return found
        gone = self.gettext(GONE)  # the flow was edited since: only its id is left to name it
        return Label(gone, gone, first_words(f"{step_id} {gone}", CHART_CHARS), "", gone=True)

    def _label(self, line: StepLine, section: str, welcome: bool) -> Label:
        if welcome:
            words = self.gettext(WELCOME)
        elif line.kind in KIND_NAMES:
            words = self.gettext(KIND_NAMES[line.kind])
        elif line.kind in ("info", "outcome"):
            words = line.topic or line.kind_words  # an ending by its name for staff
        else:
            words = line.text
        return Label(words, first_words(words, TABLE_CHARS), first_words(words, CHART_CHARS), section)


def audit_detail(what: str, period: Period) -> str:
    """The audit line's detail: which of the page's filters were used (never a count, never a person)."""
    used = [
        f"{name}={value}"
        for name, value in (
            ("since", period.since),
            ("until", period.until),
            ("version", period.flow_version),
            ("source", period.source),
        )
        if value
    ]
    return " ".join([what, *used])


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
