"""What a turn did to a person's place in the flow, as the funnel counts it (``funnel_steps``).

Worked out from the conversation state before and after the turn (both stored anyway), so the
patients' hot path reads nothing more and writes only when their place changed: a step left
(with the time spent on it, and whether they went back from it), a step reached, invalid answers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Move:
    kind: str  # leave | enter | skip | invalid
    step: str
    count: int = 0  # leave: 1 when they went back from the step; invalid: how many more


def epoch(at: datetime) -> int:
    """Whole seconds since the epoch: what ``funnel_steps`` keeps times as."""
    return int(at.timestamp())


def funnel_moves(before: dict[str, Any], after: dict[str, Any], questions: Sequence[str] = ()) -> Iterator[Move]:
    """The moves between two conversation states (``Conversation.to_dict``).

    Going back is coming to a step the person had already completed (``path`` before the turn):
    the back button, a change from the summary, or a restart all count as going back from where
    they were. Moving forward to a step that is not an ending (``questions``: the flow's other
    steps in order) passes over the steps between, which skip logic hid: each is marked skipped
    (an ending reached early, an urgent one, skips nothing: the questions after it were not hidden,
    the intake ended). Invalid answers are counted from the in-a-row counter, which only grows on
    the step it belongs to.
    """
    old, new = before.get("state"), after.get("state")
    if old != new:
        went_back = new in before.get("path", ())
        if old is not None:
            yield Move("leave", old, 1 if went_back else 0)
        if new is not None:
            yield Move("enter", new)
        if not went_back and old in questions and new in questions:
            path = set(after.get("path", ()))
            start, end = questions.index(old), questions.index(new)
            for step in questions[start + 1 : end]:
                if step not in path:
                    yield Move("skip", step)
        return
    more = after.get("invalid", 0) - before.get("invalid", 0)
    if more > 0 and new is not None:
        yield Move("invalid", new, more)
