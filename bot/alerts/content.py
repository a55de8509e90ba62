"""What an alert says: the event, the severity, the intake's number and a link to its page.

Minimal on purpose: neither a Telegram group nor e-mail is end-to-end encrypted, so an alert
never carries a name or an answer. ``ALERT_DETAIL=topics`` adds the raised flags' staff topics
(the flow's plain words for what to look at, such as "Symptoms after a recent injection"). The
words come from ``texts.yaml`` in the flow's default language (staff-facing, like the staff app).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.engine import Engine

_TEXTS: dict[str, dict[str, Any]] = yaml.safe_load(Path(__file__).with_name("texts.yaml").read_text(encoding="utf-8"))
#: Most severe first: an alert names the most severe flag the intake has raised.
SEVERITY_ORDER = ("urgent", "high", "review", "note")


@dataclass(frozen=True)
class AlertText:
    subject: str  # the e-mail's subject; the first line in Telegram
    body: str

    @property
    def message(self) -> str:
        """As one Telegram message."""
        return f"{self.subject}\n\n{self.body}"


class AlertWriter:
    """Writes alerts for one flow's intakes."""

    def __init__(self, engine: Engine, base_url: str, detail: str = "minimal"):
        self.engine = engine
        self.base_url = base_url.rstrip("/")
        self.detail = detail
        self.lang = engine.flow.default_language
        self.texts = _TEXTS.get(self.lang, _TEXTS["en"])
        self.severity = {f.id: f.severity for f in engine.flow.flags}
        self.topics = {f.id: f.topic for f in engine.flow.flags}

    def write(self, event: str, intake_id: int, flags: list[str] | None) -> AlertText:
        """The alert for ``event`` of intake ``intake_id``; ``flags`` the intake's raised flags (None
        once the intake has been erased: the alert still goes, with what is known)."""
        t = self.texts
        flags = flags or []
        severity = "urgent" if event == "urgent" else self._most_severe(flags)
        link = f"{self.base_url}/intakes/{intake_id}"
        lines = [t["severity"].format(severity=t["severities"][severity]), t["link"].format(link=link)]
        topics = [self.engine.text(self.topics[f], self.lang) for f in flags if f in self.topics]
        if self.detail == "topics" and topics:
            lines.append(t["topics"].format(topics="; ".join(topics)))
        return AlertText(t["subject"].format(event=t["events"][event], intake=intake_id), "\n".join(lines))

    def test(self) -> AlertText:
        return AlertText(self.texts["test_subject"], self.texts["test_body"])

    def _most_severe(self, flags: list[str]) -> str:
        known = {self.severity[f] for f in flags if f in self.severity}
        return next((s for s in SEVERITY_ORDER if s in known), "none")

    def is_high(self, flags: list[str]) -> bool:
        return any(self.severity.get(f) == "high" for f in flags)
