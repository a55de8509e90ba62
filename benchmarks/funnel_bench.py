"""How fast the Funnel page answers at 100,000 intakes (issue 14, section 4: under one second).

Builds the database as ``benchmarks/staff_pages_bench.py`` does (its ``fill``: intakes spread over
a year, statuses, sources, endings of the default flow), then the ``funnel_steps`` rows turns
would have written for them (a covering index read: the intake's start, version and source
copied in): each person walks the flow's questions in order up to where they
stopped (a completed intake to the end and an ending), skip logic hiding the optional branches
for most (the sweat and previous-result questions), a few invalid answers and goings back, and
seconds spent on each step left. Times the page (and its CSV) through the real staff app
in-process, logged in: all time, the last 30 days, one source, one source over 30 days.

Run: ``.venv/bin/python benchmarks/funnel_bench.py`` (SQLite in a temporary file);
``--postgres`` for a temporary PostgreSQL database; ``--intakes 5000 --runs 5`` for a quick look.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from staff_pages_bench import FLOW, PASSWORD, STAFF, database, fill, log_in  # noqa: E402

from bot.engine import Engine  # noqa: E402
from bot.flow import load_checked, model  # noqa: E402
from bot.staff.accounts import Accounts  # noqa: E402
from bot.staff.web import create_app  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.store.funnel import epoch  # noqa: E402
from bot.store.schema import funnel_steps, intakes  # noqa: E402

BATCH = 20_000
#: Steps that skip logic hides from most people (shown to this share).
BRANCHES = {"line_areas": 0.5, "eye_area": 0.3, "previous_details": 0.3}
BRANCH_PREFIXES = (("sweat_", 0.15),)


def shown_to(step: str, rng: random.Random) -> bool:
    share = BRANCHES.get(step)
    for prefix, part in BRANCH_PREFIXES:
        if step.startswith(prefix):
            share = part
    return share is None or rng.random() < share


def row(intake: dict, step: str, entered: int, **values: object) -> dict:
    """A funnel row as turns write it for ``intake`` (its id and what rows copy of it): nothing
    spent, no back, no invalid answer, not here, not skipped, unless ``values`` say so."""
    defaults = dict(seconds=None, backs=0, invalid=0, here=False, skipped=False)
    return dict(step=step, entered=entered, **(defaults | values), **intake)


def fill_steps(store: Store, engine: Engine, seed: int) -> str:
    """The rows turns would have written for every intake in the database."""
    began = time.perf_counter()
    rng = random.Random(seed)
    questions = [s.id for s in engine.flow.steps if not isinstance(s, model.OutcomeStep)]
    made = 0
    with store.engine.begin() as conn:
        people = conn.execute(
            sa.select(
                intakes.c.id,
                intakes.c.status,
                intakes.c.outcome,
                intakes.c.created_at,
                intakes.c.flow_version,
                intakes.c.source,
            )
        ).all()
        batch: list[dict] = []
        for intake_id, status, outcome, created, version, source in people:
            begun = created if created.tzinfo else created.replace(tzinfo=UTC)
            at = epoch(begun)
            copied = dict(intake_id=intake_id, begun=begun, flow_version=version, source=source)
            last = len(questions) if status == "completed" else rng.randint(0, len(questions) - 1)
            hidden = {q for q in questions[:last] if not shown_to(q, rng)}
            walked = [q for q in questions[:last] if q not in hidden]
            stop = None if status == "completed" else questions[last]
            if stop is not None and stop not in walked:
                walked.append(stop)

            for step in walked:
                here = step == stop
                seconds = None if here else int(rng.lognormvariate(3, 1))
                backs = 1 if rng.random() < 0.04 else 0
                invalid = rng.choice((1, 2)) if rng.random() < 0.03 else 0
                batch.append(row(copied, step, at, seconds=seconds, backs=backs, invalid=invalid, here=here))
                at += seconds or 0
            # hidden by skip logic: a row marked skipped, as turns write it
            batch += [row(copied, step, at, skipped=True) for step in hidden]
            if status == "completed" and outcome:
                batch.append(row(copied, outcome, at, here=True))
            if len(batch) >= BATCH:
                conn.execute(funnel_steps.insert(), batch)
                made += len(batch)
                batch = []
        if batch:
            conn.execute(funnel_steps.insert(), batch)
            made += len(batch)
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE funnel_steps"))  # as autovacuum would: index-only scans
    return f"{made:,} funnel rows in {time.perf_counter() - began:.1f} s"


async def time_pages(store: Store, engine: Engine, runs: int) -> list[tuple[str, float, float]]:
    app = create_app(engine, store, "x" * 32)
    month = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    paths = [
        ("funnel, all time", "/funnel"),
        ("funnel, last 30 days", f"/funnel?since={month}"),
        ("funnel, source=flyer", "/funnel?source=flyer"),
        ("funnel, source=flyer, 30 days", f"/funnel?source=flyer&since={month}"),
        ("funnel CSV, all time", "/funnel.csv"),
    ]
    results = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://staff", timeout=None
    ) as client:
        await log_in(client)
        for name, path in paths:
            times = []
            for attempt in range(runs + 1):
                began = time.perf_counter()
                answer = await client.get(path)
                took = time.perf_counter() - began
                if answer.status_code != 200:
                    raise RuntimeError(f"GET {path}: {answer.status_code}")
                if attempt:
                    times.append(took)
            times.sort()
            results.append((name, statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]))
            print(f"  {name:<34} {1000 * results[-1][1]:7.1f} {1000 * results[-1][2]:7.1f}", flush=True)
    return results


def main(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore")
    engine = Engine(load_checked(FLOW))
    with database(args.postgres) as url:
        store = Store.open(url)
        try:
            made = fill(store, engine, args.intakes, args.seed)
            steps = fill_steps(store, engine, args.seed)
            Accounts(store).add(STAFF, PASSWORD, "reviewer")
            kind = "PostgreSQL" if args.postgres else "SQLite on disk"
            print(f"Funnel page at {args.intakes:,} intakes ({kind}; {made}; {steps}); {args.runs} requests each, ms")
            print(f"  {'page':<34} {'median':>7} {'p95':>7}")
            results = asyncio.run(time_pages(store, engine, args.runs))
        finally:
            store.close()
    slow = [name for name, median, _ in results if median >= 1.0]
    print(f"  pages with a median of one second or more: {', '.join(slow) if slow else 'none'}")
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intakes", type=int, default=100_000, help="intakes in the database (default 100000)")
    parser.add_argument("--runs", type=int, default=10, help="requests per page after a warm-up (default 10)")
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
