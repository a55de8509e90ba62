"""How a mistake in a flow is reported: ``file:line:column: message``, in the author's terms."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

from bot.errors import UserError

#: A place in the YAML document: keys and list indexes from the root, e.g. ("steps", 3, "ask").
Path = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class FlowError(UserError):
    """A flow that cannot be used; ``problems`` lists every mistake found."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def show(self, file: TextIO | None = None) -> None:
        for problem in self.problems:
            print(problem, file=file or sys.stderr)


@dataclass
class SourceMap:
    """Where each value (and each mapping key) of a YAML document starts, 1-based."""

    file: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def value_at(self, path: Path) -> tuple[int, int]:
        """The position of the value at ``path``, or of its nearest existing ancestor."""
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, (1, 1))

    def key_at(self, path: Path) -> tuple[int, int]:
        """The position of the key naming ``path`` (falls back to the value's position)."""
        return self.keys.get(path) or self.value_at(path)

    def problem(self, path: Path, message: str, *, at_key: bool = False) -> Problem:
        line, column = self.key_at(path) if at_key else self.value_at(path)
        return Problem(self.file, line, column, message)


def did_you_mean(word: object, candidates: Iterable[str], cutoff: float = 0.66) -> str:
    """`` (did you mean 'x'?)`` when a candidate is close to ``word``, else an empty string."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return f" (did you mean '{close[0]}'?)" if close else ""
