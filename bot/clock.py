"""A stored time (UTC) on the clinic's clock (CLINIC_TIMEZONE): how the staff pages, the chart's PDF
and the patient's copy show every time."""

from __future__ import annotations

from datetime import datetime, tzinfo

from bot.store.records import as_utc


def on_clock(
    at: datetime | None, zone: tzinfo, seconds: bool = False, named: bool = True, day: bool = True, clock: bool = True
) -> str:
    """``at`` as "2026-12-05 11:32 CET": the zone ``named`` after it unless the page says it once
    (a column's heading), ``day``/``clock`` False for one half."""
    if at is None:
        return ""
    shape = " ".join(
        part
        for part, wanted in (("%Y-%m-%d", day), ("%H:%M:%S" if seconds else "%H:%M", clock), ("%Z", named))
        if wanted
    )
    return as_utc(at).astimezone(zone).strftime(shape)
