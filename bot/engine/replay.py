"""What-if: the stored answers of a past intake walked through another flow version.

``replay`` starts a throwaway conversation on the new version's engine and gives it, step by step,
the answers the intake stored (through the engine's own answering, so skip logic, flags and urgent
endings are the new version's rules), until it reaches an ending or a question the intake never
answered. Nothing is written anywhere: the caller reads intakes, this compares.

``Change`` says what would differ, each with its reason in ids an author knows: which ending
condition or urgent flag led to the new ending (and the answers it reads), which flag rule raises
or no longer raises a flag (and the answers behind it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.engine.engine import Engine
from bot.flow import model
from bot.flow.conditions import describe
from bot.flow.graph import fits, reads

#: Steps walked at most per step of the flow (skip logic never loops: a guard, not a limit met).
_WALK = 3


@dataclass(frozen=True)
class Replayed:
    """Where the stored answers lead in the new version."""

    ending: str | None  # the ending reached; None: stopped at a question
    stopped_at: str | None  # the question the intake never answered, where the walk stopped
    flags: tuple[str, ...]
    answers: Mapping[str, Any]  # the answers the new version took


@dataclass(frozen=True)
class Change:
    intake_id: int
    status: str
    version: str
    reasons: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"intake {self.intake_id} ({self.status}, v{self.version}): " + "; ".join(self.reasons)


def replay(engine: Engine, state: Mapping[str, Any], completed: bool) -> Replayed:
    """The stored conversation ``state`` (``Conversation.to_dict``) answered again on ``engine``.

    ``completed``: the intake confirmed its summary (a summary is passed only then)."""
    given: Mapping[str, Any] = state.get("answers") or {}
    conv = engine.start(state.get("lang"))
    for _ in range(_WALK * len(engine.flow.steps)):
        step = engine.steps[conv.state]
        if isinstance(step, model.OutcomeStep):
            break
        if isinstance(step, model.SummaryStep):
            if not completed:
                break
            value = None
        elif isinstance(step, model.InfoStep):
            value = None
        elif step.id in given and fits(step, given[step.id]):  # a skip (None) fits an optional question
            value = given[step.id]
        elif isinstance(step, model.ConsentStep) and state.get("consent"):
            value = "agree"
        else:
            break  # a question the intake never answered (or answered in a way this version cannot take)
        engine.give(conv, value)
    # a safety screen's flag was raised by typed words, not by answers: it stands where the version has it
    screens = engine.screen_flags
    flags = list(conv.flags) + [f for f in state.get("flags", ()) if f in screens and f not in conv.flags]
    here = engine.steps.get(conv.state)
    ending = conv.state if isinstance(here, model.OutcomeStep) else None
    stopped = None if ending is not None else conv.state
    return Replayed(ending, stopped, tuple(flags), dict(conv.answers))


def compare(engine: Engine, intake: Any) -> Change | None:
    """What would change for a stored intake on ``engine``'s version: None when nothing would.

    An intake's ending is compared when it had one (completed); its flags always. An intake ended
    by a safety screen keeps that ending wherever the version still has the screen."""
    state = intake.state
    completed = intake.status == "completed"
    new = replay(engine, state, completed)
    reasons: list[str] = []
    old_ending = intake.outcome if completed else None
    screened = completed and any(
        s.outcome == old_ending and s.flag in intake.flags for s in engine.flow.safety if s.outcome is not None
    )
    if completed and not screened and new.ending != old_ending:
        reasons.append(_ending_reason(engine, old_ending, new))
    old_flags, new_flags = set(intake.flags), set(new.flags)
    for flag in sorted(new_flags - old_flags):
        reasons.append(f"flag '{flag}' would be raised: {_flag_reason(engine, flag, new.answers)}")
    for flag in sorted(old_flags - new_flags):
        rule = next((f for f in engine.flow.flags if f.id == flag), None)
        if rule is None:
            reasons.append(f"flag '{flag}' would not be raised: this version has no such flag")
        else:
            reasons.append(f"flag '{flag}' would not be raised: {_flag_reason(engine, flag, new.answers)}")
    if not reasons:
        return None
    return Change(intake.id, intake.status, intake.flow_version, reasons)


def _answers_read(cond: Any, answers: Mapping[str, Any]) -> str:
    read = sorted(q for q in reads(cond) if q in answers)
    return ", ".join(f"{q} = {_value(answers[q])}" for q in read) or "no answer"


def _value(value: Any) -> str:
    return "[" + ", ".join(map(str, value)) + "]" if isinstance(value, list) else str(value)


def _ending_reason(engine: Engine, old: str | None, new: Replayed) -> str:
    if new.ending is None:
        return f"ending '{old}' would not be reached: the walk stops at '{new.stopped_at}', which it never answered"
    step = engine.steps[new.ending]
    urgent = [f for f in new.flags if f in engine.urgent_flags]
    if step.urgent and urgent:
        flag = urgent[0]
        behind = _flag_reason(engine, flag, new.answers)
        return f"ending '{old}' -> '{new.ending}': urgent flag '{flag}' leads there ({behind})"
    if step.when is not None:
        behind = _answers_read(step.when, new.answers)
        if not reads(step.when):  # a condition on flags or severity: the flags it found
            behind = "flags raised: " + (", ".join(new.flags) or "none")
        return f"ending '{old}' -> '{new.ending}': its condition {describe(step.when)} holds ({behind})"
    return f"ending '{old}' -> '{new.ending}': the first ending after the last question answered"


def _flag_reason(engine: Engine, flag: str, answers: Mapping[str, Any]) -> str:
    rule = next((f for f in engine.flow.flags if f.id == flag), None)
    if rule is None or rule.when is None:
        return "raised by a safety screen"
    return f"rule {describe(rule.when)} ({_answers_read(rule.when, answers)})"
