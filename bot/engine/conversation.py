"""A conversation: plain, JSON-serialisable data that the engine advances.

It holds no reference to the flow or the state machine, so millions can sit idle in a store and
any one can be restored and continued by any process that loaded the same flow.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

FORMAT = 1


class Conversation:
    """One person's way through one flow.

    ``state`` is the current step id (the attribute transitions reads and writes); ``path`` lists
    the completed steps in flow order; ``answers`` maps question id -> value (None when skipped);
    ``flags`` lists raised flag ids in flow order; ``draft`` holds a multiple-choice selection in
    progress; ``invalid`` counts invalid answers in a row at the current step; ``revision`` grows
    with every accepted change of step or language, so a channel can tell a stale button from a
    current one (ticking a choice of a multiple-choice question keeps the revision). ``aside``
    keeps answers the flow could no longer read when it was edited under the conversation (the
    step is gone, retyped, or lost that choice): out of the way of the engine, still there for staff.
    ``urgent_shown`` records each time an urgent ending was shown (``{"at", "flag", "outcome",
    "answers"}``: when, the urgent flag behind it, the ending, and the answers that raised the flag
    as they were then). It only ever grows: going back, changing the answer, declining consent or
    /restart keep it, because staff must always learn that a person was told to get help now; only
    erasing the whole intake (/delete, retention) removes it. ``screen_asked`` names the safety
    screen whose yes/no question is open: the next typed message answers it, not the step.
    """

    __slots__ = (
        "answers",
        "aside",
        "consent",
        "draft",
        "flags",
        "flow_id",
        "invalid",
        "language",
        "path",
        "revision",
        "screen_asked",
        "state",
        "urgent_shown",
    )

    def __init__(
        self,
        flow_id: str,
        state: str,
        language: str,
        answers: dict[str, Any] | None = None,
        path: list[str] | None = None,
        flags: list[str] | None = None,
        draft: list[str] | None = None,
        invalid: int = 0,
        revision: int = 0,
        consent: dict[str, str] | None = None,
        aside: dict[str, Any] | None = None,
        urgent_shown: Sequence[dict[str, Any]] | None = None,
        screen_asked: str | None = None,
    ):
        self.flow_id = flow_id
        self.state = state
        self.language = language
        self.answers = answers if answers is not None else {}
        self.path = path if path is not None else []
        self.flags = flags if flags is not None else []
        self.draft = draft
        self.invalid = invalid
        self.revision = revision
        #: {"version": consent text version, "at": ISO time} once the person agreed.
        self.consent = consent
        self.aside = aside
        # The shared empty tuple until an urgent text is shown: most conversations never have one,
        # and an empty list each would cost 10,000 idle conversations half a megabyte.
        self.urgent_shown: Sequence[dict[str, Any]] = list(urgent_shown) if urgent_shown else ()
        self.screen_asked = screen_asked

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"v": FORMAT, "flow": self.flow_id, "state": self.state, "lang": self.language}
        if self.answers:
            data["answers"] = dict(self.answers)
        if self.path:
            data["path"] = list(self.path)
        if self.flags:
            data["flags"] = list(self.flags)
        if self.draft is not None:
            data["draft"] = list(self.draft)
        if self.invalid:
            data["invalid"] = self.invalid
        if self.revision:
            data["turn"] = self.revision  # stored under its first name: intakes in flight keep it
        if self.consent:
            data["consent"] = dict(self.consent)
        if self.aside:
            data["aside"] = dict(self.aside)
        if self.urgent_shown:
            data["urgent_shown"] = [dict(record) for record in self.urgent_shown]
        if self.screen_asked is not None:
            data["screen_asked"] = self.screen_asked
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conversation:
        if data.get("v") != FORMAT:
            raise ValueError(f"unknown conversation format {data.get('v')!r}")
        # Interning shares one copy of each id among all restored conversations: most of an idle
        # conversation's memory would otherwise be duplicate strings.
        intern = sys.intern
        answers = {intern(k): _intern_value(v) for k, v in data.get("answers", {}).items()}
        draft = data.get("draft")
        return cls(
            flow_id=intern(data["flow"]),
            state=intern(data["state"]),
            language=intern(data["lang"]),
            answers=answers,
            path=[intern(s) for s in data.get("path", ())],
            flags=[intern(f) for f in data.get("flags", ())],
            draft=[intern(c) for c in draft] if draft is not None else None,
            invalid=int(data.get("invalid", 0)),
            revision=int(data.get("turn", 0)),
            consent=data.get("consent"),
            aside=data.get("aside"),
            urgent_shown=data.get("urgent_shown"),
            screen_asked=data.get("screen_asked"),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Conversation) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Conversation(state={self.state!r}, revision={self.revision}, answers={len(self.answers)})"


def _intern_value(value: Any) -> Any:
    if isinstance(value, str) and len(value) <= 24:  # ids, not free text
        return sys.intern(value)
    if isinstance(value, list):
        return [sys.intern(v) if isinstance(v, str) else v for v in value]
    return value
