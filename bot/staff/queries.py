"""What the staff pages and the clinic API read and write: intake search, review marks, notes, audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from bot.store import Intake, Store, TranscriptLine, as_utc, utcnow
from bot.store.schema import audit, intakes, notes, webhook_deliveries

STATUSES = ("in_progress", "completed", "abandoned", "declined")
PAGE_SIZE = 25


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    outcome: str | None = None
    flag: str | None = None
    source: str | None = None
    since: date | None = None
    until: date | None = None
    search: str | None = None
    page: int = 1

    @classmethod
    def from_query(cls, query: dict[str, str]) -> Filters:
        def day(name: str) -> date | None:
            try:
                return date.fromisoformat(query.get(name, ""))
            except ValueError:
                return None

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
            search=(query.get("q") or "").strip()[:64] or None,
            page=page,
        )

    def where(self) -> list[sa.ColumnElement[bool]]:
        conditions: list[sa.ColumnElement[bool]] = []
        if self.status:
            conditions.append(intakes.c.status == self.status)
        if self.outcome:
            conditions.append(intakes.c.outcome == self.outcome)
        if self.flag:
            # flags are a JSON list of ids; ids are [a-z0-9_], so the quoted id matches exactly
            conditions.append(intakes.c.flags.contains(f'"{self.flag}"'))
        if self.source:
            conditions.append(intakes.c.source == self.source)
        if self.since:
            conditions.append(intakes.c.created_at >= datetime.combine(self.since, time.min).astimezone())
        if self.until:
            end = datetime.combine(self.until + timedelta(days=1), time.min).astimezone()
            conditions.append(intakes.c.created_at < end)
        if self.search:
            pattern = f"%{self.search.lower().lstrip('@')}%"
            conditions.append(
                sa.or_(
                    sa.func.lower(intakes.c.first_name).like(pattern),
                    sa.func.lower(intakes.c.last_name).like(pattern),
                    sa.func.lower(intakes.c.username).like(pattern),
                    sa.func.lower(
                        sa.func.coalesce(intakes.c.first_name, "") + " " + sa.func.coalesce(intakes.c.last_name, "")
                    ).like(pattern),
                )
            )
        return conditions

    def query_string(self, **changes: object) -> str:
        from urllib.parse import urlencode

        values = {
            "status": self.status,
            "outcome": self.outcome,
            "flag": self.flag,
            "source": self.source,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "q": self.search,
            "page": self.page,
        }
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v not in (None, "", 1) or (k == "page" and v != 1)})


@dataclass
class Page:
    items: list[Intake]
    total: int
    counts: dict[str, int]
    page: int
    pages: int
    sources: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Note:
    author: str
    text: str
    created_at: datetime


class Review:
    def __init__(self, store: Store):
        self.store = store

    def search(self, filters: Filters, page_size: int = PAGE_SIZE) -> Page:
        conditions = filters.where()
        with self.store.transaction() as tx:
            total = tx.conn.execute(sa.select(sa.func.count()).select_from(intakes).where(*conditions)).scalar_one()
            pages = max(1, -(-total // page_size))
            page = min(filters.page, pages)
            rows = tx.conn.execute(
                sa.select(intakes)
                .where(*conditions)
                .order_by(intakes.c.created_at.desc(), intakes.c.id.desc())
                .limit(page_size)
                .offset((page - 1) * page_size)
            )
            items = [Intake.from_row(r) for r in rows]
            without_status = [c for c in Filters(**{**filters.__dict__, "status": None}).where()]
            counts = dict(
                tx.conn.execute(
                    sa.select(intakes.c.status, sa.func.count()).where(*without_status).group_by(intakes.c.status)
                ).all()
            )
            sources = [
                s for (s,) in tx.conn.execute(sa.select(intakes.c.source).distinct().order_by(intakes.c.source)) if s
            ]
        return Page(items, total, {s: counts.get(s, 0) for s in STATUSES}, page, pages, sources)

    def intake(self, intake_id: int) -> Intake | None:
        with self.store.transaction() as tx:
            return tx.intake(intake_id)

    def transcript(self, intake_id: int) -> list[TranscriptLine]:
        with self.store.transaction() as tx:
            return tx.transcript(intake_id)

    def notes(self, intake_id: int) -> list[Note]:
        with self.store.transaction() as tx:
            rows = tx.conn.execute(sa.select(notes).where(notes.c.intake_id == intake_id).order_by(notes.c.id))
            return [Note(r.author, r.text, as_utc(r.created_at)) for r in rows]

    def add_note(self, intake_id: int, author: str, text: str) -> None:
        with self.store.transaction() as tx:
            tx.conn.execute(notes.insert().values(intake_id=intake_id, author=author, text=text, created_at=utcnow()))

    def mark_reviewed(self, intake_id: int, by: str, reviewed: bool = True) -> None:
        with self.store.transaction() as tx:
            tx.conn.execute(
                intakes.update()
                .where(intakes.c.id == intake_id)
                .values(reviewed_at=utcnow() if reviewed else None, reviewed_by=by if reviewed else None)
            )

    def record(self, actor: str, action: str, intake_id: int | None = None, detail: str | None = None) -> None:
        """The audit log: who viewed or exported what, and when (never what the intake says)."""
        with self.store.transaction() as tx:
            tx.conn.execute(
                audit.insert().values(actor=actor, action=action, intake_id=intake_id, detail=detail, at=utcnow())
            )

    def audit_log(self, limit: int = 500) -> list[sa.Row]:
        with self.store.transaction() as tx:
            return list(tx.conn.execute(sa.select(audit).order_by(audit.c.id.desc()).limit(limit)))

    def failed_webhooks(self) -> list[sa.Row]:
        with self.store.transaction() as tx:
            return list(
                tx.conn.execute(
                    sa.select(webhook_deliveries)
                    .where(webhook_deliveries.c.gave_up_at.isnot(None))
                    .order_by(webhook_deliveries.c.id.desc())
                )
            )
