"""The engine of each flow version: an intake finishes on the version it began on.

A process runs one flow file, the newest version (``Engines.current``): every new intake begins
on it. An intake begun on an earlier version carries that version's content hash
(``Intake.flow_hash``); its engine is built from the source the store kept
(``bot.store.flow_versions``) the first time such an intake comes along, and kept in a small LRU
(building an engine parses the YAML and makes a transitions machine: milliseconds, never per turn).

An intake whose version is not known (begun before migration 0017 on a version no process
recorded, or by an engine not built from a stored source: the tests', the terminal chat's) is
read with the current engine, which fits it as it always has (``Engine.recover``).

Pieces built from an engine (the staff exporter, the PDF, the Telegram renderer) are kept beside
it (``Engines.part``): each intake is shown with its own version's questions and words.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from bot.engine.engine import Engine
from bot.flow.versions import FlowSource, parse_version

T = TypeVar("T")

#: Versions kept built at once besides the current one: a clinic has a handful in flight.
KEPT = 8
#: Hashes found unknown, remembered so that a turn of such an intake does not ask the store again.
UNKNOWN_KEPT = 1024


def engine_of(source: FlowSource, file: str = "<stored flow>") -> Engine:
    """An engine on a stored version's source (it was checked when it first ran)."""
    checked = parse_version(source.text, f"{file} {source.flow_id} v{source.version}")
    return Engine(checked.flow, flow_hash=checked.source.hash)


class Engines:
    """Flow hash -> Engine: the current version, and earlier ones built lazily (bounded LRU).

    ``sources`` finds a stored version's source by its hash (None: not known); without it, every
    intake is read with ``current`` (``Engines.single``). Safe to use from several threads (the
    staff app's) and the event loop at once.
    """

    def __init__(self, current: Engine, sources: Callable[[str], FlowSource | None] | None = None, kept: int = KEPT):
        self.current = current
        self._sources = sources
        self._kept = kept
        self._built: OrderedDict[str, Engine] = OrderedDict()
        self._unknown: OrderedDict[str, None] = OrderedDict()
        self._parts: dict[tuple[int, Any], Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def single(cls, engine: Engine) -> Engines:
        """Every intake read with ``engine`` (no store of versions): as before flow versions."""
        return cls(engine)

    def of(self, flow_hash: str | None) -> Engine | None:
        """The engine of the version with this content hash; None when it is not known."""
        if flow_hash is None:
            return None
        if flow_hash == self.current.hash:
            return self.current
        with self._lock:
            engine = self._built.get(flow_hash)
            if engine is not None:
                self._built.move_to_end(flow_hash)
                return engine
            if flow_hash in self._unknown or self._sources is None:
                return None
        source = self._sources(flow_hash)  # outside the lock: a read of the store
        engine = engine_of(source) if source is not None else None
        with self._lock:
            if engine is None:
                self._unknown[flow_hash] = None
                if len(self._unknown) > UNKNOWN_KEPT:
                    self._unknown.popitem(last=False)
                return None
            engine = self._built.setdefault(flow_hash, engine)
            self._built.move_to_end(flow_hash)
            while len(self._built) > self._kept:
                _, dropped = self._built.popitem(last=False)
                self._parts = {k: v for k, v in self._parts.items() if k[0] != id(dropped)}
            return engine

    def warm(self, hashes: list[str]) -> int:
        """Build these versions' engines now (at the start, for the intakes in progress), so the
        first turn of each does not wait for it; how many are built (at most ``kept``)."""
        return sum(self.of(h) is not None for h in hashes[: self._kept])

    def known(self, flow_hash: str | None) -> bool:
        """Whether an intake with this hash is read with its own version's engine."""
        return self.of(flow_hash) is not None

    def for_intake(self, intake: Any) -> Engine:
        """The engine an intake is read and run with: its own version's, else the current one."""
        return self.of(getattr(intake, "flow_hash", None)) or self.current

    def part(self, engine: Engine, make: Callable[[Engine], T]) -> T:
        """``make(engine)``, made once per engine kept (an Exporter, a Renderer, a PDF writer)."""
        key = (id(engine), make)
        with self._lock:
            found = self._parts.get(key)
        if found is None:
            found = make(engine)
            with self._lock:
                found = self._parts.setdefault(key, found)
        return found

    def part_for(self, intake: Any, make: Callable[[Engine], T]) -> T:
        """``part`` of the intake's own engine."""
        return self.part(self.for_intake(intake), make)
