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

    def raised(self, *, became_urgent: bool, asked_for_human: bool, completed: bool, flags: Iterable[str]) -> list[str]:
        """The events this turn raised that ALERT_ON asks to alert on."""
        raised = {
            "urgent": became_urgent,
            "human": asked_for_human,
            "high": completed and not self.high_flags.isdisjoint(flags),
            "completed": completed,
        }
        return [event for event, happened in raised.items() if happened and event in self.events]
