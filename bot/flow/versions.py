"""A flow's version as the store keeps it, and which changes between two versions break intakes.

A *flow version* is one content of a flow file: its id, its version string, its YAML source and
the SHA-256 of its content. The content is the parsed YAML as canonical JSON (keys sorted), so a
comment, a re-indent or quoting a text differently is the same version; any change of a word or a
rule is another. The store keeps every version a process has run (``bot.store.flow_versions``), so
an intake finishes on the version it began on (``bot.engine.engines``).

``breaking_changes`` says which edits of a published flow are refused (by ``validate`` with a
database, and at start-up), each at its place in the new file:

- a step id reused with another meaning (another kind, or another answer type) than in any
  version run before: stored answers, the funnel and every export's column would mean two things;
- the version string of a version run before, with other content: staff, the funnel and the
  exports tell versions apart by that string;
- a step, or a choice, taken out (or a question retyped) under an intake in progress that would be
  read with the new flow: one begun before migration 0017 on a version the store never kept, whose
  stored state stands at that step, or answered it, or picked that choice. An intake bound to a
  kept version finishes on that version whatever the new one removes, so removing a step or a
  choice is otherwise allowed: that is what versions are for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

import orjson

from bot.flow import model
from bot.flow.check import check_flow
from bot.flow.graph import fits
from bot.flow.load import parse_flow, parse_yaml, read_flow_text
from bot.flow.problems import FlowError, Problem, SourceMap


@dataclass(frozen=True)
class FlowSource:
    """One version of a flow as read from its file (or from the store)."""

    flow_id: str
    version: str
    hash: str  # SHA-256 of the content, hex
    text: str  # the YAML source as read


@dataclass(frozen=True)
class Checked:
    """A flow file read, validated and hashed: what the bot runs and what the store keeps."""

    flow: model.Flow
    source: FlowSource
    places: SourceMap


def content_hash(data: Any) -> str:
    """The SHA-256 of parsed YAML as canonical JSON: what makes two sources the same version."""
    canonical = orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    return hashlib.sha256(canonical).hexdigest()


def parse_version(text: str, file: str = "<flow>") -> Checked:
    """Parse, validate and hash a flow's source; raises FlowError listing every problem."""
    data, _ = parse_yaml(text, file)  # parsed twice (the start, a validate): simpler than threading it through
    flow, places = parse_flow(text, file)
    problems = check_flow(flow, places)
    if problems:
        raise FlowError(problems)
    return Checked(flow, FlowSource(flow.id, flow.version, content_hash(data), text), places)


def read_version(path: str | FilePath) -> Checked:
    """``parse_version`` of a file (its name in every problem)."""
    return parse_version(read_flow_text(path), str(path))


@dataclass(frozen=True)
class Earlier:
    """A stored version of the same flow."""

    source: FlowSource
    flow: model.Flow


def meaning(step: Any) -> str:
    """What a stored answer to ``step`` means, in an author's words: its kind, and a question's answer type."""
    answer = getattr(step, "answer", None)
    kind = getattr(step, "kind", "question")
    return f"a {answer} question" if answer else f"a {kind} step"


def _choices(step: Any) -> list[str]:
    if isinstance(step, model.SingleQuestion | model.MultiQuestion):
        return [c.id for c in step.choices]
    return []


def breaking_changes(
    new: Checked, earlier: Sequence[Earlier], unbound: Sequence[Mapping[str, Any]] = ()
) -> list[Problem]:
    """Every change the new version may not make (see the module's doc), one problem each at its
    place in the new file. ``earlier``: the stored versions of the same flow; ``unbound``: the
    stored states (``Conversation.to_dict``) of its intakes in progress that no kept version
    holds, which the new flow would run."""
    flow, places = new.flow, new.places
    where: Mapping[str, int] = {s.id: i for i, s in enumerate(flow.steps)}
    problems: dict[tuple[str, ...], Problem] = {}

    def at(key: tuple[str, ...], path: tuple[Any, ...], message: str, *, at_key: bool = False) -> None:
        problems.setdefault(key, places.problem(path, message, at_key=at_key))

    def meaning_at(index: int) -> tuple[Any, ...]:
        step = flow.steps[index]
        field = "answer" if hasattr(step, "answer") else "kind"
        return ("steps", index, field) if ("steps", index, field) in places.values else ("steps", index, "id")

    for old in earlier:
        if old.source.hash == new.source.hash:
            continue
        label = f"version {old.source.version}"
        if old.source.version == new.source.version:
            at(
                ("version",),
                ("version",),
                f"the content changed but the version string is still '{flow.version}', as in a version already "
                "run: give this edition a new version",
            )
        for old_step in old.flow.steps:
            index = where.get(old_step.id)
            if index is not None and meaning(flow.steps[index]) != meaning(old_step):
                step = flow.steps[index]
                at(
                    ("meaning", step.id),
                    meaning_at(index),
                    f"step '{step.id}' was {meaning(old_step)} in {label} and is {meaning(step)} here: "
                    "stored answers would mean two things; give the new one a new id",
                )

    # intakes the new flow would run: what of it their stored state uses
    gone: dict[str, int] = {}
    retyped: dict[str, int] = {}
    lost: dict[tuple[str, str], int] = {}
    for state in unbound:
        answers = state.get("answers") or {}
        for step_id in {state.get("state"), *answers}:
            if step_id is None:
                continue
            index = where.get(step_id)
            if index is None:
                gone[step_id] = gone.get(step_id, 0) + 1
                continue
            if step_id not in answers or fits(flow.steps[index], answers[step_id]):
                continue
            value = answers[step_id]
            picked = value if isinstance(value, list) else [value]
            kept = _choices(flow.steps[index])
            if kept and all(isinstance(v, str) for v in picked):
                for choice in picked:
                    if choice not in kept:
                        lost[(step_id, choice)] = lost.get((step_id, choice), 0) + 1
            else:
                retyped[step_id] = retyped.get(step_id, 0) + 1
    stood = _where_it_stood(earlier, where)
    for step_id, count in gone.items():
        after = stood.get(step_id)
        at(
            ("gone", step_id),
            ("steps", after) if after is not None else ("steps",),
            f"step '{step_id}' is taken out while {count} intake(s) in progress, begun before flow versions were "
            "kept, stand at it or answered it: keep it until they have finished",
            at_key=after is None,
        )
    for step_id, count in retyped.items():
        at(
            ("meaning", step_id),
            meaning_at(where[step_id]),
            f"step '{step_id}' is retyped while {count} intake(s) in progress, begun before flow versions were "
            "kept, answered it otherwise: give the new question a new id",
        )
    for (step_id, choice), count in lost.items():
        at(
            ("choice", step_id, choice),
            ("steps", where[step_id], "choices"),
            f"choice '{choice}' of step '{step_id}' is taken out while {count} intake(s) in progress, begun before "
            "flow versions were kept, picked it: keep it until they have finished",
            at_key=True,
        )
    return sorted(problems.values())


def _where_it_stood(earlier: Sequence[Earlier], where: Mapping[str, int]) -> dict[str, int]:
    """For each step of an earlier version the new one lacks: the index in the new flow of the
    next step after it that the new flow still has (the place it was taken out at)."""
    stood: dict[str, int] = {}
    for old in earlier:
        steps = old.flow.steps
        for position, step in enumerate(steps):
            if step.id in where or step.id in stood:
                continue
            after = next((where[s.id] for s in steps[position:] if s.id in where), None)
            if after is not None:
                stood[step.id] = after
    return stood
