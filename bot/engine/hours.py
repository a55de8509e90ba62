"""The clinic's opening hours (a flow's ``talk.opening_hours``): is someone there now, and if not,
when does the next span begin. Pure: the caller gives the time."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.flow.model import WEEKDAYS, OpeningHours

if TYPE_CHECKING:
    from bot.engine.engine import Engine


def _spans(hours: OpeningHours, weekday: int) -> list[tuple[time, time]]:
    spans = []
    for span in getattr(hours, WEEKDAYS[weekday]):
        start, end = span.split("-")
        spans.append((time.fromisoformat(start), time.max if end == "24:00" else time.fromisoformat(end)))
    return sorted(spans)


def next_opening(hours: OpeningHours, now: datetime) -> datetime | None:
    """None when the clinic is open at ``now``; else when it opens next, in the clinic's zone
    (None too when no day has hours: the caller then says only "during opening hours")."""
    local = now.astimezone(ZoneInfo(hours.time_zone))
    for start, end in _spans(hours, local.weekday()):
        if start <= local.time() < end:
            return None
    for days in range(8):
        day = (local + timedelta(days=days)).date()
        for start, _end in _spans(hours, day.weekday()):
            at = datetime.combine(day, start, tzinfo=local.tzinfo)
            if at > local:
                return at
    return None


def is_open(hours: OpeningHours, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(hours.time_zone))
    return any(start <= local.time() < end for start, end in _spans(hours, local.weekday()))


def when_to_expect(engine: Engine, lang: str, now: datetime) -> str:
    """The sentence that tells a patient when a person will answer, in ``lang``."""
    talk = engine.flow.talk
    hours = talk.opening_hours if talk is not None else None
    message = engine.message
    if hours is None:
        return message(lang, "talk_when_unknown")
    if is_open(hours, now):
        return message(lang, "talk_when_open")
    at = next_opening(hours, now)
    if at is None:
        return message(lang, "talk_when_unknown")
    day = message(lang, "weekdays").split(",")[at.weekday()]
    return message(lang, "talk_when_closed", day=day, time=at.strftime("%H:%M"), zone=hours.time_zone)
