"""Throughput through one, two and three webhook workers on one PostgreSQL, beside the SQLite
single process (issue 15, section 5).

Real bot processes (``python -m bot run`` with a webhook each) against the fake Bot API
(tests/support/fake_telegram.py, in this process), with the tests' load balancer in front
(tests/support/workers.py): the same patients every time, each going through
tests/flows/workers.yaml (/start, consent, four ticks in two bursts that hit two workers at
once, Done, a typed goal), ``--concurrent`` of them at a time, each waiting for the bot's
answer before its next step as a person does. Printed per setup: updates per second (updates
posted / wall time), p50/p99 turn latency (a POST to the worker's 200, which it answers once the
turn is committed and a pressed button answered), the most messages (sends and edits) Telegram
got in any one second, and what went wrong (nothing, or the test would fail).

Telegram's limit for the bot as a whole (30 messages a second) would decide every figure here, so
the bench raises it (``TELEGRAM_BOT_RATE``, ``--bot-rate``) to measure the workers themselves;
``--bot-rate 30`` shows the real ceiling.

Run: ``make bench-workers`` (about two minutes).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import psycopg  # noqa: E402
from support.databases import POSTGRES, POSTGRES_ADMIN  # noqa: E402
from support.fake_telegram import FakeTelegram  # noqa: E402
from support.workers import Cluster, play_all, tally_all  # noqa: E402

from bot.store import Store  # noqa: E402

UPDATES_PER_PATIENT = 8


def run(url: str, workers: int, patients: int, concurrent: int, bot_rate: float, first_chat: int) -> dict:
    with FakeTelegram() as fake:
        cluster = Cluster(fake, url, workers=workers, TELEGRAM_BOT_RATE=str(bot_rate)).start()
        try:
            chats = list(range(first_chat, first_chat + patients))
            began = time.monotonic()
            play_all(cluster, chats, threads=concurrent)
            elapsed = time.monotonic() - began
            time.sleep(1.0)  # the last "sent" marks
            problems = {k: v for k, v in tally_all(cluster, chats).items() if v and k != "replies"}
            sends = sorted(c["at"] for c in fake.calls() if c["method"].startswith(("send", "edit")))
        finally:
            cluster.stop()
    # the most messages Telegram got in any one second (the limit holds for the bot as a whole)
    peak, start = 0, 0
    for end, at in enumerate(sends):
        while at - sends[start] >= 1.0:
            start += 1
        peak = max(peak, end - start + 1)
    latencies = sorted(cluster.latencies)
    return {
        "updates/s": patients * UPDATES_PER_PATIENT / elapsed,
        "p50 ms": 1000 * statistics.median(latencies),
        "p99 ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "peak": peak,
        "problems": problems or "none",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=60)
    parser.add_argument("--concurrent", type=int, default=20, help="patients in flight at once")
    parser.add_argument("--bot-rate", type=float, default=1000.0, help="TELEGRAM_BOT_RATE for the workers")
    args = parser.parse_args()
    admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True)
    print(f"{args.patients} patients, {args.concurrent} at a time, TELEGRAM_BOT_RATE={args.bot_rate:g}")
    print(f"{'setup':28} {'updates/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'peak msg/s':>10}  problems")
    setups: list[tuple[str, int]] = [("SQLite, one process", 1)] + [
        (f"PostgreSQL, {n} worker{'s' if n > 1 else ''}", n) for n in (1, 2, 3)
    ]
    for index, (name, workers) in enumerate(setups):
        database = None
        if name.startswith("SQLite"):
            url = f"sqlite:///{tempfile.mkdtemp(prefix='workers-bench-')}/intake.db"
        else:
            database = f"bench_{uuid.uuid4().hex[:10]}"
            admin.execute(f'CREATE DATABASE "{database}"')
            url = f"{POSTGRES}/{database}"
        Store.open(url).close()  # migrated once, before the workers start
        try:
            figures = run(url, workers, args.patients, args.concurrent, args.bot_rate, 10_000 * (index + 1))
        finally:
            if database is not None:
                admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
        print(
            f"{name:28} {figures['updates/s']:>10.1f} {figures['p50 ms']:>8.1f} {figures['p99 ms']:>8.1f}"
            f" {figures['peak']:>10}"
            f"  {figures['problems']}",
            flush=True,
        )
    admin.close()


if __name__ == "__main__":
    main()
