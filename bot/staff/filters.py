"""The staff list's filters, as the page's query string carries them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from bot.store.review import STATUSES, Search

#: The dates a filter can name (the ends of Python's range overflow when made local times).
EARLIEST, LATEST = date(1900, 1, 1), date(9000, 12, 31)


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    outcome: str | None = None
    flag: str | None = None
    source: str | None = None
    since: date | None = None
    until: date | None = None
    text: str | None = None  # a name or @username, or part of one
    page: int = 1

    @classmethod
    def from_query(cls, query: dict[str, str]) -> Filters:
        """From a query string; anything malformed is left out rather than refused."""

        def day(name: str) -> date | None:
            try:
                given = date.fromisoformat(query.get(name, ""))
            except ValueError:
                return None
            # 0001-01-01 or 9999-12-31 mean "any time": kept within what a local time can hold
            return min(max(given, EARLIEST), LATEST)

        try:
            page = max(1, int(query.get("page", "1")))
        except ValueError:
            page = 1
        status = query.get("status") or None
        return cls(
            status=status if status in STATUSES else None,
            outcome=query.get("outcome") or None,
            flag=query.get("flag") or None,
            source=query.get("source") or None,
            since=day("since"),
            until=day("until"),
            text=(query.get("q") or "").strip()[:64] or None,
            page=page,
        )

    def to_search(self) -> Search:
        """What to ask the store for (the page aside)."""
        return Search(self.status, self.outcome, self.flag, self.source, self.since, self.until, self.text)

    def query_string(self, **changes: object) -> str:
        values = {
            "status": self.status,
            "outcome": self.outcome,
            "flag": self.flag,
            "source": self.source,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "q": self.text,
            "page": self.page,
        }
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v not in (None, "", 1) or (k == "page" and v != 1)})
