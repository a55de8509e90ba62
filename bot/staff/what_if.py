"""What-if for staff and the command line: which past intakes a new flow version would end or flag
otherwise (``bot.engine.replay``), read from the store and never written to it.

The intakes of the new flow's id are read a batch at a time in read-only transactions; those
begun on the new version itself, and declined ones (nothing but the decision is kept), are left
out. Each is replayed on a throwaway conversation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from bot.engine import Engine
from bot.engine.replay import Change, compare
from bot.staff.review import Review
from bot.store import IntakeStatus, Store


@dataclass
class WhatIf:
    """The intakes replayed and those that would change."""

    replayed: int = 0
    changes: list[Change] = field(default_factory=list)

    def lines(self) -> Iterator[str]:
        yield from (str(change) for change in self.changes)
        yield f"{self.replayed} intake(s) replayed: the ending or flags of {len(self.changes)} would change"


def what_if(store: Store, engine: Engine, since: datetime | None = None) -> WhatIf:
    """Replay the stored answers of ``engine``'s flow's intakes (begun on or after ``since``)."""
    review = Review(store)
    report = WhatIf()
    for batch in review.intakes(review.export_ids(since=since)):
        for intake in batch:
            if intake.flow_id != engine.flow.id or intake.status == IntakeStatus.DECLINED:
                continue
            if engine.hash is not None and intake.flow_hash == engine.hash:
                continue  # begun on this very version
            report.replayed += 1
            change = compare(engine, intake)
            if change is not None:
                report.changes.append(change)
    return report
