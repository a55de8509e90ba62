"""How fast the staff pages answer at 100,000 intakes: the work queue, the list and every filter.

Issue 13 asks every list, queue and filter page to answer in under 200 ms (median) on this machine
at 100,000 intakes, on SQLite and PostgreSQL. This builds such a database with the store alone
(no bot, no Telegram) and times each page through the real staff app in-process
(``httpx.ASGITransport``, logged in as an admin), one request after another:

- the database: ``--intakes`` rows (default 100,000) inserted with SQLAlchemy Core ``executemany``
  as ``benchmarks/staff_bench.py`` copies its seeded intakes: names, sources and start times
  spread over a year; statuses, endings and flags drawn from the default flow (its flag ids,
  severities and endings, so badges and filters read real words), the conversation state padded
  to the size a finished intake's has, the text search's index filled as turns fill it; a share
  of them asked for a person, were shown an urgent text (most acknowledged), wait for the
  clinic, are reviewed, assigned or followed up (see ``SHARES``). Migrated first, so every index
  of the schema is there. On PostgreSQL the tables are ANALYZEd after the load, as autovacuum
  would soon do; SQLite is left as the store leaves it.
- each page ``--runs`` times (default 30) after two warm-up requests: median and p95.

Pages: the queue, the list newest first and by severity, each filter (and two combinations that
match a few intakes or none: the worst case, where the whole table is read once), a page deep
down (the 90,000th intake on: a keyset cursor), an intake and "next in queue", and the text
search ``?q=`` (whatever SQL it has: another change replaces it).

Run: ``.venv/bin/python benchmarks/staff_pages_bench.py`` (SQLite in a temporary file);
``--postgres`` for a temporary database on the PostgreSQL at 127.0.0.1:5432 (trust auth);
``--intakes 5000 --runs 5`` for a quick look.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import orjson  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bot.engine import Engine  # noqa: E402
from bot.flow import load_checked, model  # noqa: E402
from bot.staff.accounts import Accounts  # noqa: E402
from bot.staff.web import create_app  # noqa: E402
from bot.store import Store, search_index  # noqa: E402
from bot.store.records import FOLLOW_UPS  # noqa: E402
from bot.store.schema import intakes  # noqa: E402

FLOW = ROOT / "flows" / "skin_botox.yaml"
STAFF, PASSWORD = "bench", "a-long-password"
COLLEAGUES = ("rita", "sam", "lena")
FIRST = ("Patricia", "Patrick", "Anna", "Mohammed", "Chloé", "Olusegun", "Pat", "Sofia", "Wei", "Jan")
LAST = ("Patel", "Smith", "Nowak", "García", "Okafor", "Li", "Fitzpatrick", "Jones", None)
SOURCES = ("website", "instagram", "flyer", None)
STATUSES = (("completed", 0.7), ("in_progress", 0.15), ("abandoned", 0.1), ("declined", 0.05))
#: What share of the intakes has each mark (of those it can apply to).
SHARES = {
    "flags": 0.5,  # completed intakes with one flag or more
    "human": 0.02,  # asked for a person
    "urgent": 0.01,  # shown an urgent text
    "acknowledged": 0.7,  # of those shown one
    "waiting": 0.003,  # a message waiting for the clinic
    "reviewed": 0.3,  # of the completed
    "assigned": 0.03,  # to someone (a third of them to the member timing the pages)
    "follow_up": 0.03,
}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
BATCH = 5000


# --- the database -------------------------------------------------------------------------------


def padded_state(engine: Engine, rng: random.Random) -> str:
    """A conversation state the size of a finished intake's: the engine's own, every question on
    the path with an answer (typed words where it takes them, skipped elsewhere)."""
    conv = engine.start("en").to_dict()
    questions = [s.id for s in engine.flow.steps if getattr(s, "ask", None) is not None]
    words = ("Fine lines around the eyes", "Ibuprofen now and then", "Nothing else", "Forehead lines")
    texts = engine.text_questions
    conv["answers"] = {q: rng.choice(words) if q in texts else None for q in questions}
    conv["path"] = questions
    return orjson.dumps(conv).decode()


def rows(engine: Engine, count: int, rng: random.Random) -> Iterator[list[dict[str, Any]]]:
    flags = [f.id for f in engine.flow.flags if f.when is not None]
    urgent = [f.id for f in engine.flow.flags if f.severity == "urgent"]
    outcomes = [s.id for s in engine.flow.steps if isinstance(s, model.OutcomeStep)]
    states = [padded_state(engine, rng) for _ in range(20)]
    now = datetime.now(UTC)
    batch: list[dict[str, Any]] = []
    for number in range(1, count + 1):
        created = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
        status = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
        raised = sorted(rng.sample(flags, rng.randint(1, 3))) if rng.random() < SHARES["flags"] else []
        shown = rng.random() < SHARES["urgent"]
        if shown:
            raised = sorted({*raised, rng.choice(urgent)})
        first, last = rng.choice(FIRST), rng.choice(LAST)
        row: dict[str, Any] = dict(
            id=number,
            chat_id=5_000_000_000 + number,
            user_id=5_000_000_000 + number,
            first_name=first,
            last_name=last,
            username=f"{first.lower()}{number}" if rng.random() < 0.6 else None,
            flow_id=engine.flow.id,
            flow_version=engine.flow.version,
            language="en",
            source=rng.choice(SOURCES),
            status=status,
            outcome=rng.choice(outcomes) if status == "completed" else None,
            urgent=shown,
            flags=orjson.dumps(raised).decode(),
            severity=engine.severity_of(raised),
            state=rng.choice(states),
            created_at=created,
            updated_at=created + timedelta(minutes=rng.uniform(1, 20)),
            completed_at=created + timedelta(minutes=20) if status == "completed" else None,
            human_requested_at=created + timedelta(minutes=5) if rng.random() < SHARES["human"] else None,
            urgent_shown_at=created + timedelta(minutes=3) if shown else None,
            version=1,
        )
        if shown and rng.random() < SHARES["acknowledged"]:
            row.update(acknowledged_at=created + timedelta(hours=1), acknowledged_by=rng.choice(COLLEAGUES))
        if rng.random() < SHARES["waiting"]:
            row["waiting_since"] = now - timedelta(minutes=rng.uniform(1, 3000))
        if status == "completed" and rng.random() < SHARES["reviewed"]:
            row.update(reviewed_at=created + timedelta(days=1), reviewed_by=rng.choice(COLLEAGUES))
        if rng.random() < SHARES["assigned"]:
            row.update(assigned_to=rng.choice((STAFF, *COLLEAGUES[:2])), assigned_at=created + timedelta(hours=2))
        if rng.random() < SHARES["follow_up"]:
            row.update(follow_up=rng.choice(FOLLOW_UPS), follow_up_at=created + timedelta(hours=3), follow_up_by=STAFF)
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def fill(store: Store, engine: Engine, count: int, seed: int) -> str:
    began = time.perf_counter()
    columns = [c.name for c in intakes.columns]
    with store.engine.begin() as conn:
        for batch in rows(engine, count, random.Random(seed)):
            conn.execute(intakes.insert(), [{c: r.get(c) for c in columns} for r in batch])
        if store.engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT setval('intakes_id_seq', (SELECT max(id) FROM intakes))"))
        search_index.fill_missing(conn)  # what a turn writes for the text search, written here at once
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE intakes"))
            conn.execute(sa.text("ANALYZE intake_search"))
    return f"{count:,} intakes inserted in {time.perf_counter() - began:.1f} s"


# --- timing -------------------------------------------------------------------------------------


async def log_in(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    match = CSRF.search(page.text)
    answer = await client.post("/login", data={"name": STAFF, "password": PASSWORD, "csrf": match.group(1)})
    if answer.status_code != 303:
        raise RuntimeError(f"POST /login: {answer.status_code}, not logged in")


def pages(store: Store, engine: Engine) -> list[tuple[str, str]]:
    """(name, path) of every page timed; the deep page's cursor and the intake read from the store."""
    with store.engine.connect() as conn:
        deep = conn.execute(
            sa.select(intakes.c.created_at, intakes.c.id)
            .order_by(intakes.c.created_at.desc(), intakes.c.id.desc())
            .offset(int(0.9 * conn.execute(sa.select(sa.func.count()).select_from(intakes)).scalar_one()))
            .limit(1)
        ).one()
        one = conn.execute(sa.select(sa.func.max(intakes.c.id))).scalar_one()
    at = deep.created_at.replace(tzinfo=UTC) if deep.created_at.tzinfo is None else deep.created_at
    micros = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    common = max((f for f in engine.flow.flags if f.when is not None), key=lambda f: f.severity == "review").id
    rare = next(f.id for f in engine.flow.flags if f.severity == "urgent")
    ending = next(s.id for s in engine.flow.steps if isinstance(s, model.OutcomeStep))
    month = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    return [
        ("queue", "/"),
        ("list, newest first", "/intakes"),
        ("list, by severity", "/intakes?sort=severity"),
        ("deep page (90% down, keyset)", f"/intakes?after={micros}.{deep.id}"),
        ("filter status=completed", "/intakes?status=completed"),
        ("filter status=declined", "/intakes?status=declined"),
        ("filter reviewed", "/intakes?review=reviewed"),
        ("filter unreviewed", "/intakes?review=unreviewed"),
        ("filter acknowledged", "/intakes?acknowledged=1"),
        ("filter assigned to me", "/intakes?mine=1"),
        ("filter waiting for us", "/intakes?waiting=1"),
        ("filter follow-up booked", "/intakes?follow_up=booked"),
        (f"filter flag {common}", f"/intakes?flag={common}"),
        (f"filter flag {rare} (rare)", f"/intakes?flag={rare}"),
        (f"filter ending {ending}", f"/intakes?outcome={ending}"),
        ("filter source=flyer", "/intakes?source=flyer"),
        ("filter since 30 days", f"/intakes?since={month}"),
        ("filter matching a few (declined + rare flag)", f"/intakes?status=declined&flag={rare}"),
        ("filter matching none (in progress + ending)", f"/intakes?status=in_progress&outcome={ending}"),
        ("unreviewed by severity", "/intakes?review=unreviewed&sort=severity"),
        ("waiting for us by severity", "/intakes?waiting=1&sort=severity"),
        ("text search ?q=pat", "/intakes?q=pat"),
        ("text search ?q=nobody", "/intakes?q=nobody"),
        ("an intake", f"/intakes/{one}"),
        ("next in queue", "/queue/next"),
        ("API list", "/api/intakes"),
        ("API list, deep (keyset)", f"/api/intakes?after={micros}.{deep.id}"),
        (f"API list, flag {common}, by severity", f"/api/intakes?flag={common}&sort=severity"),
        ("API list, ?q=pat", "/api/intakes?q=pat"),
    ]


async def time_pages(store: Store, engine: Engine, runs: int) -> list[tuple[str, float, float, int]]:
    app = create_app(engine, store, "x" * 32)
    results = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://staff", timeout=None
    ) as client:
        await log_in(client)
        api = {"Authorization": f"Bearer {Accounts(store).add_token('bench')}"}
        for name, path in pages(store, engine):
            times = []
            for attempt in range(runs + 2):
                began = time.perf_counter()
                answer = await client.get(path, headers=api if path.startswith("/api/") else None)
                took = time.perf_counter() - began
                if answer.status_code not in (200, 303):
                    raise RuntimeError(f"GET {path}: {answer.status_code}")
                if attempt >= 2:
                    times.append(took)
            if path.startswith("/api/"):
                listed = len(answer.json()["intakes"])
            else:
                listed = len(re.findall(r'<tr class="(?:reviewed|unreviewed)', answer.text))
            times.sort()
            results.append(
                (name, statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], listed)
            )
            print(f"  {name:<46} {1000 * results[-1][1]:7.1f} {1000 * results[-1][2]:7.1f}  {listed:>4}", flush=True)
    return results


@contextmanager
def database(postgres: str | None) -> Iterator[str]:
    """A SQLite file in a temporary directory, or a temporary PostgreSQL database (dropped after)."""
    if postgres is None:
        with tempfile.TemporaryDirectory(prefix="staff-pages-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'intake.db'}"
        return
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def main(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore")
    engine = Engine(load_checked(FLOW))
    with database(args.postgres) as url:
        store = Store.open(url)
        try:
            made = fill(store, engine, args.intakes, args.seed)
            accounts = Accounts(store)
            accounts.add(STAFF, PASSWORD, "admin")
            for colleague in COLLEAGUES:
                accounts.add(colleague, PASSWORD, "reviewer")
            kind = "PostgreSQL" if args.postgres else "SQLite on disk"
            print(f"Staff pages at {args.intakes:,} intakes ({kind}; {made}); {args.runs} requests each, ms")
            print(f"  {'page':<46} {'median':>7} {'p95':>7}  rows")
            results = asyncio.run(time_pages(store, engine, args.runs))
        finally:
            store.close()
    slow = [name for name, median, _, _ in results if median >= 0.2]
    print(f"  pages with a median of 200 ms or more: {', '.join(slow) if slow else 'none'}")
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intakes", type=int, default=100_000, help="intakes in the database (default 100000)")
    parser.add_argument("--runs", type=int, default=30, help="requests per page after two warm-ups (default 30)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--postgres",
        nargs="?",
        const="host=127.0.0.1 port=5432 dbname=postgres connect_timeout=3",
        default=None,
        help="on PostgreSQL: a temporary database made through this connection (default 127.0.0.1:5432)",
    )
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main(parse_args()))
