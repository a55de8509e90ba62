"""The default flow as an author might edit it between two restarts, while intakes are in flight.

Each edit is a copy of flows/skin_botox.yaml that still validates: a step taken out, a single
choice question retyped to a number, a choice removed. ``edited_file`` writes the copy, ``edited``
also loads it with every check, as the bot does at start.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bot.engine import Engine
from bot.flow import load_checked
from support.default_flow import DEFAULT_FLOW

Edit = Callable[[dict[str, Any]], None]


class _NoAliases(yaml.SafeDumper):
    """The loader refuses YAML aliases: never write one."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def edited_file(directory: Path, *edits: Edit, version: str = "edited") -> Path:
    """A copy of the default flow changed by ``edits`` (and given another version, ``version``),
    written to ``directory`` (as ``<version>.yaml``; "edited.yaml" by default)."""
    data = yaml.safe_load(DEFAULT_FLOW.read_text(encoding="utf-8"))
    for edit in edits:
        edit(data)
    data["version"] = version
    path = directory / f"{version}.yaml"
    path.write_text(yaml.dump(data, Dumper=_NoAliases, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def edited(directory: Path, *edits: Edit) -> Engine:
    """An engine on an edited copy of the default flow, loaded with every check as the bot does."""
    return Engine(load_checked(edited_file(directory, *edits)))


def _step(data: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in data["steps"] if s["id"] == step_id)


def without_step(step_id: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data["steps"].remove(_step(data, step_id))

    return edit


def retyped_to_number(step_id: str) -> Edit:
    """The question asks for a number of weeks now, not for one of its choices; a flag on one of
    its old choices goes with them (the checker would refuse it, as it would the author's)."""

    def edit(data: dict[str, Any]) -> None:
        step = _step(data, step_id)
        del step["choices"]
        step.update(answer="number", min=0, max=52, unit={"en": "weeks", "de": "Wochen"})
        data["flags"] = [f for f in data["flags"] if (f.get("when") or {}).get("question") != step_id]

    return edit


def without_choice(step_id: str, choice_id: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        step = _step(data, step_id)
        step["choices"] = [c for c in step["choices"] if c["id"] != choice_id]

    return edit


def renamed_choice(step_id: str, choice_id: str, new_id: str) -> Edit:
    """The choice's id changed (its label stays): an answer stored with the old id is the old version's."""

    def edit(data: dict[str, Any]) -> None:
        for choice in _step(data, step_id)["choices"]:
            if choice["id"] == choice_id:
                choice["id"] = new_id

    return edit


#: the question ``question_before`` adds
NEW_QUESTION = {
    "id": "sunscreen",
    "section": "skin",
    "ask": {"en": "Do you wear sunscreen every day?", "de": "Tragen Sie täglich Sonnenschutz?"},
    "answer": "yesno",
}


def question_before(step_id: str) -> Edit:
    """A yes/no question (``NEW_QUESTION``) put in before ``step_id``."""

    def edit(data: dict[str, Any]) -> None:
        data["steps"].insert(data["steps"].index(_step(data, step_id)), dict(NEW_QUESTION))

    return edit
