"""The staff list's filters, as the page's query string carries them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TypeVar
from urllib.parse import urlencode

from bot.staff.i18n import N_
from bot.store.queue import SORTS
from bot.store.records import FOLLOW_UPS
from bot.store.review import STATUSES, AuditSearch, Search

T = TypeVar("T")

#: The list's booking filter: tapped the booking button, or shown it (tracked) and did not tap.
BOOKINGS = {"tapped": True, "not_tapped": False}

#: The dates a filter can name (the ends of Python's range overflow when made local times).
EARLIEST, LATEST = date(1900, 1, 1), date(9000, 12, 31)


#: The largest id the database holds (a BIGINT): a larger number is refused, not sent to PostgreSQL.
MAX_ID = 2**63 - 1


def parse_day(text: str) -> date:
    """A filter's date (YYYY-MM-DD); ValueError when it is none."""
    # 0001-01-01 or 9999-12-31 mean "any time": kept within what a local time can hold
    return min(max(date.fromisoformat(text), EARLIEST), LATEST)


def parse_id(text: str) -> int:
    """A record's number as typed (an intake's, an audit line's); ValueError when it is none."""
    number = int(text.strip())
    if not 1 <= number <= MAX_ID:
        raise ValueError(text)
    return number


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    outcome: str | None = None
    flag: str | None = None
    source: str | None = None
    since: date | None = None
    until: date | None = None
    text: str | None = None  # a name or @username, or part of one
    sort: str = "date"  # or "severity"
    after: str | None = None  # where the list's page begins (``bot.store.queue.Cursor``, as text)
    before: str | None = None  # or where it ends (the page above it)
    review: str | None = None  # "reviewed" or "unreviewed"
    acknowledged: bool = False
    mine: bool = False  # assigned to the member looking
    waiting: bool = False  # waiting for the clinic
    follow_up: str | None = None
    booking: str | None = None  # "tapped" or "not_tapped": the booking button (``BOOKINGS``)

    #: The parameters of the full list (any of them in ``/``'s query means the list, not the queue).
    NAMES = (
        "status", "outcome", "flag", "source", "since", "until", "q", "page", "sort", "after", "before",
        "review", "acknowledged", "mine", "waiting", "follow_up", "booking",
    )  # fmt: skip

    @classmethod
    def from_query(cls, query: dict[str, str]) -> Filters:
        """From a query string; anything malformed is left out rather than refused."""

        def day(name: str) -> date | None:
            try:
                return parse_day(query.get(name, ""))
            except ValueError:
                return None

        status = query.get("status") or None
        return cls(
            status=status if status in STATUSES else None,
            outcome=query.get("outcome") or None,
            flag=query.get("flag") or None,
            source=query.get("source") or None,
            since=day("since"),
            until=day("until"),
            text=(query.get("q") or "").strip()[:64] or None,
            sort=query.get("sort") if query.get("sort") in SORTS else "date",
            after=(query.get("after") or "").strip()[:64] or None,
            before=(query.get("before") or "").strip()[:64] or None,
            review=query.get("review") if query.get("review") in ("reviewed", "unreviewed") else None,
            acknowledged=query.get("acknowledged") == "1",
            mine=query.get("mine") == "1",
            waiting=query.get("waiting") == "1",
            follow_up=query.get("follow_up") if query.get("follow_up") in FOLLOW_UPS else None,
            booking=query.get("booking") if query.get("booking") in BOOKINGS else None,
        )

    def to_search(self, me: str | None = None) -> Search:
        """What to ask the store for (the page aside); ``me``: who "assigned to me" is."""
        return Search(
            self.status,
            self.outcome,
            self.flag,
            self.source,
            self.since,
            self.until,
            self.text,
            reviewed={"reviewed": True, "unreviewed": False}.get(self.review or ""),
            acknowledged=self.acknowledged,
            assigned_to=me if self.mine else None,
            waiting=self.waiting,
            follow_up=self.follow_up,
            booking_tapped=BOOKINGS.get(self.booking or ""),
        )

    def query_string(self, **changes: object) -> str:
        values = {
            "status": self.status,
            "outcome": self.outcome,
            "flag": self.flag,
            "source": self.source,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "q": self.text,
            "sort": self.sort if self.sort != "date" else None,
            "after": self.after,
            "before": self.before,
            "review": self.review,
            "acknowledged": "1" if self.acknowledged else None,
            "mine": "1" if self.mine else None,
            "waiting": "1" if self.waiting else None,
            "follow_up": self.follow_up,
            "booking": self.booking,
        }
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


#: The filters' messages are English message ids, shown in the page's language (``_(error)``).
BAD_PAGE = N_("The page link is not valid: open the newest page (Clear).")


@dataclass(frozen=True)
class AuditFilters:
    """The audit page's filters and where its page begins, as the query string carries them.

    Unlike the list's, a malformed value is refused with a message: an admin who asked for the
    lines of intake "12a" must not be shown every line as if they were intake 12's.
    """

    actor: str | None = None
    action: str | None = None
    intake: int | None = None
    since: date | None = None
    until: date | None = None
    before: int | None = None
    after: int | None = None

    @classmethod
    def from_query(cls, query: dict[str, str]) -> tuple[AuditFilters, list[str]]:
        """The filters, and a message for each value that could not be read (left out): message
        ids, translated where they are shown."""
        errors: list[str] = []

        def read(name: str, parse: Callable[[str], T], message: str) -> T | None:
            text = (query.get(name) or "").strip()
            if not text:
                return None
            try:
                return parse(text)
            except ValueError:
                errors.append(message)
                return None

        filters = cls(
            actor=(query.get("actor") or "").strip()[:64] or None,
            action=(query.get("action") or "").strip()[:32] or None,
            intake=read("intake", parse_id, N_("The intake number must be a whole number, 1 or more.")),
            since=read("since", parse_day, N_("“From” must be a date (YYYY-MM-DD).")),
            until=read("until", parse_day, N_("“To” must be a date (YYYY-MM-DD).")),
            before=read("before", parse_id, BAD_PAGE),
            after=read("after", parse_id, BAD_PAGE),
        )
        if filters.since and filters.until and filters.since > filters.until:
            errors.append(N_("“From” is after “To”: no line can be between them."))
        return filters, errors

    def to_search(self) -> AuditSearch:
        return AuditSearch(self.actor, self.action, self.intake, self.since, self.until)

    def query_string(self, **changes: object) -> str:
        """These filters with another page (``before=`` or ``after=``, one of them)."""
        values = {
            "actor": self.actor,
            "action": self.action,
            "intake": self.intake,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})
