"""Which events of a turn raise an alert, decided where the turn commits (``TurnState.commit``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.alerts.settings import AlertSettings
from bot.engine import Engine


@dataclass(frozen=True)
class AlertRules:
    events: frozenset[str]  # ALERT_ON
    channels: tuple[str, ...]  # an alert is queued once per channel
    high_flags: frozenset[str]  # the flow's flags of severity high

    @classmethod
    def of(cls, settings: AlertSettings, engine: Engine) -> AlertRules | None:
        """None when alerts are off (no event, or no channel): turns then queue nothing."""
        if not settings.active:
            return None
        high = frozenset(f.id for f in engine.flow.flags if f.severity == "high")
        return cls(settings.events, settings.channels, high)

    def raised(
        self,
        *,
        urgent_raised: Iterable[str],
        asked_for_human: bool,
        completed: bool,
        flags: Iterable[str],
        talk_opened: int | None = None,
    ) -> list[tuple[str, str]]:
        """The events this turn raised that ALERT_ON asks to alert on, as (event, reason): an
        urgent alert for each urgent flag this turn raised (its reason), so crisis words in an
        intake already urgent for a medical answer reach staff too; a request for a person once for
        each talk it opened (its reason ``talk:<id>``: a patient who asks again after a talk ended
        is heard again); the others once an intake."""
        raised = [("urgent", flag) for flag in urgent_raised]
        if talk_opened is not None:
            raised.append(("human", f"talk:{talk_opened}"))
        elif asked_for_human:
            raised.append(("human", ""))
        raised += [("high", "")] if completed and not self.high_flags.isdisjoint(flags) else []
        raised += [("completed", "")] if completed else []
        return [(event, reason) for event, reason in raised if event in self.events]
