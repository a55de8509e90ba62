"""The tracked booking address, ``PUBLIC_URL/b/<token>``: the patient taps the booking button, the
tap is noted on the intake, and the browser is sent on to the booking page, filled in now for the
intake's ending (``bot.flow.booking``). No login (the patient opens it); the token is random and
erased with the intake, so an unknown one says only that the link is not in use.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import datetime

from bot.engine import Engine, Engines
from bot.flow import booking, model
from bot.store import Intake, Store, utcnow
from bot.store import booking as taps

#: What ``booking.new_token`` makes (and a little room): anything else is not looked up.
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,43}")


class BookingTaps:
    def __init__(self, store: Store, engine: Engine | Engines, clock: Callable[[], datetime] = utcnow):
        self.store = store
        #: an intake's ending is read with its own flow version (``bot.engine.engines``)
        self.engines = engine if isinstance(engine, Engines) else Engines.single(engine)
        self.engine = self.engines.current
        self.clock = clock

    def tap(self, token: str, note: bool = True) -> str | None:
        """Note a tap on this token's address (``note``); where to send the browser (None: not in use)."""
        if not TOKEN.fullmatch(token):
            return None
        with self.store.transaction() as tx:
            intake = taps.by_token(tx, token)
            link = self.link(intake) if intake is not None else None
            if note and intake is not None and link is not None:
                taps.note_tap(tx, intake.id, self.clock())
        return link

    def link(self, intake: Intake) -> str | None:
        """The booking page for the intake's ending as it is now, filled in: the ending's own
        booking (None when it offers none: someone who went back to an ending without one); a
        person no longer at an ending, the flow's booking page."""
        engine = self.engines.for_intake(intake)
        flow = engine.flow
        step = engine.steps.get(str(intake.state.get("state")))
        if isinstance(step, model.OutcomeStep):
            offered, ending = booking.of_ending(flow, step), step.id
        else:
            offered, ending = booking.as_booking(flow.booking_link), ""
        if offered is None:
            return None
        return booking.fill(offered, booking.BookingValues.of(intake, ending))

    def gone_page(self, accept_language: str) -> str:
        """The page for a token not in use, in the patient's language (the browser's)."""
        first = accept_language.split(",")[0].split(";")[0].strip()
        lang = self.engine.language_for(first or None)
        text = html.escape(self.engine.message(lang, "booking_gone"))
        return (
            f'<!doctype html><html lang="{html.escape(lang)}"><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(self.engine.message(lang, 'booking'))}</title><p>{text}</p></html>"
        )
