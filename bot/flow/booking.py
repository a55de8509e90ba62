"""Booking by outcome: which booking page an ending offers, and its address filled in for one person.

A flow's ``booking_link`` (and an ending's ``booking:``) is a plain link or a ``model.Booking``: the
page, and ``prefill`` parameters the booking system reads (Cal.com: ``name``, ``notes``,
``metadata[intake]``; Calendly: ``name``, ``a1``...), each a value with placeholders. Filling adds
them to the link's query, each value percent-encoded, so an author writes ``Intake {intake}`` and
never ``Intake%20{intake}``; a parameter left empty (no source) is left out. The person's name goes
only where the flow says ``share_name: true`` (the checker refuses ``{name}`` otherwise).

Pure: the channel (the button under an ending, the nudge) and the web app's redirect (``/b/...``)
both fill the same way from the values of an intake.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from bot.flow import model
from bot.flow.problems import did_you_mean

#: What a prefill value may name, each a short description (the checker's message lists them).
PLACEHOLDERS: dict[str, str] = {
    "intake": "the intake's number",
    "source": "where the person came from (the /start parameter; empty without one)",
    "language": "the person's language code",
    "ending": "the ending's id",
    "name": "the person's Telegram name (only with share_name: true)",
}
#: Needs ``share_name: true``: a name is personal data, sent to another company's site.
PERSONAL = frozenset({"name"})
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
#: Where the web app serves a tracked booking address: ``PUBLIC_URL/b/<token>`` (``tracked``).
TAP_PATH = "/b/"


class HasBookingValues(Protocol):
    """What a stored intake gives a booking link (``bot.store.Intake`` has these)."""

    id: int
    language: str
    source: str | None
    first_name: str | None
    last_name: str | None


@dataclass(frozen=True)
class BookingValues:
    """What a booking link can be filled with, for one intake at one ending."""

    intake: int
    ending: str
    language: str
    source: str | None = None
    name: str | None = None

    def get(self, placeholder: str) -> str:
        value = getattr(self, placeholder)
        return "" if value is None else str(value)

    @classmethod
    def of(cls, intake: HasBookingValues, ending: str) -> BookingValues:
        return cls(intake.id, ending, intake.language, intake.source, full_name(intake.first_name, intake.last_name))


def new_token() -> str:
    """A tracked address's token: 128 random bits, URL-safe (22 characters), never guessable
    from the intake's number nor from another token."""
    return secrets.token_urlsafe(16)


def tracked(base: str, token: str) -> str:
    """The tracked booking address: the web app notes the tap and forwards to the booking page."""
    return base.rstrip("/") + TAP_PATH + token


def full_name(first: str | None, last: str | None) -> str | None:
    """A Telegram profile's name as one string (None without either part)."""
    return " ".join(part for part in (first, last) if part) or None


def of_ending(flow: model.Flow, step: model.OutcomeStep) -> model.Booking | None:
    """The booking an ending offers (None: no button), always as a ``Booking``."""
    chosen = step.booking
    if chosen == "none":
        return None
    return as_booking(flow.booking_link if chosen == "flow" else chosen)


def as_booking(value: str | model.Booking) -> model.Booking:
    return model.Booking(link=value) if isinstance(value, str) else value


def plain_link(value: str | model.Booking) -> str:
    """The booking page itself, without prefill (what ``{booking_link}`` in a text shows)."""
    return value if isinstance(value, str) else value.link


def fill(booking: model.Booking, values: BookingValues) -> str:
    """The booking page's address with its prefill parameters filled in for one person."""
    pairs = []
    for key, template in booking.prefill.items():
        value = PLACEHOLDER.sub(lambda m: _value(m[1], values, booking.share_name), template).strip()
        if value:
            # names and values fully encoded: ``&``, ``=``, ``#`` and spaces in a name or a source
            # cannot break out, and ``metadata[intake]`` arrives as ``metadata%5Bintake%5D``, which
            # the booking site reads back as the same name (a bracket is not allowed in a query)
            pairs.append(f"{quote(key, safe='')}={quote(value, safe='')}")
    if not pairs:
        return booking.link
    link, _, fragment = booking.link.partition("#")
    joiner = "&" if "?" in link else "?"
    if link.endswith(("?", "&")):
        joiner = ""
    return link + joiner + "&".join(pairs) + (f"#{fragment}" if fragment else "")


def _value(name: str, values: BookingValues, share_name: bool) -> str:
    if name not in PLACEHOLDERS or (name in PERSONAL and not share_name):
        return ""  # the checker refused it; a flow loaded unchecked shares nothing it may not
    return values.get(name)


def problems(booking: str | model.Booking) -> list[tuple[tuple[str | int, ...], str]]:
    """What is wrong with a booking's templates: (path within it, message) each."""
    if isinstance(booking, str):
        return [((), _LINK_HAS_PLACEHOLDER)] if PLACEHOLDER.search(booking) else []
    found: list[tuple[tuple[str | int, ...], str]] = []
    if PLACEHOLDER.search(booking.link):
        found.append((("link",), _LINK_HAS_PLACEHOLDER))
    known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    for key, template in booking.prefill.items():
        for name in PLACEHOLDER.findall(template):
            if name not in PLACEHOLDERS:
                found.append(
                    (
                        ("prefill", key),
                        f"unknown placeholder '{{{name}}}' in a booking prefill; use {known}"
                        + did_you_mean(name, PLACEHOLDERS),
                    )
                )
            elif name in PERSONAL and not booking.share_name:
                found.append(
                    (
                        ("prefill", key),
                        f"'{{{name}}}' sends the person's name to the booking site: add share_name: true "
                        "beside link if the clinic wants that",
                    )
                )
    return found


_LINK_HAS_PLACEHOLDER = (
    "a booking link is the page itself: put placeholders under prefill: (link: https://..., "
    "prefill: {notes: 'Intake {intake}'})"
)
