"""The one nudge to book: BOOKING_NUDGE_AFTER after an ending that recommends a consultation, when its
booking button was not tapped (issue 14, section 3).

Kept as data (``intakes.completed_at``, ``booking_tapped_at``, ``booking_nudged_at``), so a restart
loses nothing: the next round after the start finds what is due. The message is queued in the
outbox by the same transaction that sets ``booking_nudged_at`` (``TurnRunner.nudge_in``, which
checks again under the chat's lock), so it goes once, never twice. Only where taps are recorded
(a person who booked cannot be told apart otherwise), and only with a channel that can deliver it.
Nothing is due after /delete or retention (the row is gone), after an urgent text or flag, while
a talk with the clinic is open, or once the person began a new intake. A nudge is timely only for
a while: an ending longer ago than BOOKING_NUDGE_AFTER and as long again (at least a day more)
gets none, so switching the setting on, or a long stop, never reaches people out of the blue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.store import Store, booking, utcnow

#: Send the nudge for this intake of this chat, if it is still due (the channel re-checks).
Nudge = Callable[[int, int], Awaitable[None]]
#: Nudges looked at in one round (the rest wait for the next).
BATCH = 100


class BookingNudge:
    name = "booking-nudge"

    def __init__(self, store: Store, after: float, nudge: Nudge):
        self.store = store
        self.after = timedelta(seconds=after)
        #: how long after it is due a nudge may still go
        self.late = max(self.after, timedelta(days=1))
        self.nudge = nudge
        self._interval = max(0.5, min(60.0, after / 4))

    def interval(self) -> float:
        return self._interval

    def first_delay(self) -> float:
        # Not at start: the updates that waited at Telegram while the process was down (a tap
        # cannot come that way, but /delete or a new /start can) are applied first.
        return self._interval

    async def round(self) -> None:
        now = utcnow()
        due = await asyncio.to_thread(self._due, now)
        for one in due:
            await self.nudge(one.intake_id, one.chat_id)

    def _due(self, now: datetime) -> list[booking.Due]:
        with self.store.transaction(read_only=True) as tx:
            return booking.nudges_due(tx, now - self.after, now - self.after - self.late, BATCH)

    async def close(self) -> None:
        return None
