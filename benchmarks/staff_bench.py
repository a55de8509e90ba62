"""How long a patient's Telegram turn takes while staff work runs in the same process.

``python -m bot serve`` runs the staff web app (``bot.staff.web``) and the Telegram channel on one
asyncio event loop. The web app runs its blocking calls (the store, password hashing, building an
export) on its own threads (``WebApp.blocking``), so a staff request should no longer stop the
patients' turns. This measures it, in one process on one event loop, as ``serve`` has them:

- a SQLite file with ``--intakes`` intakes (default 100,000): a few dozen distinct conversations
  done by the real channel and engine (answers, flags, early endings, some left in progress),
  copied with SQLAlchemy Core ``executemany`` under other names and dates spread over a year, a
  transcript for one intake in 40;
- the staff app driven in-process through ``httpx.ASGITransport``, logged in as an admin;
- the shipped ``TelegramChannel`` with the stub network of ``benchmarks/telegram_bench.py``, started
  as ``serve`` starts it; one simulated patient after another doing intakes, one update every
  50 ms (each sent only once the last one was answered).

Phases, each for ``--seconds``: idle; a staff member exporting everything as FHIR, then as CSV
(each export repeated until the phase has lasted its seconds); list pages searched back to back
(``GET /?q=pat&page=400``); logins back to back. For comparison, the FHIR export also runs on the
event loop (what the web app did before ``WebApp.blocking``), on the staff threads with a shorter
GIL switch interval, and in a subprocess.

For each phase: the turns taken, the time of ``await channel.process(update)`` (median, p95, p99,
max), what the patient waited from sending the update until every reply was sent (p99, max; this
includes waiting for a blocked loop to start the turn), the longest gap seen by a task that sleeps
1 ms in a loop, the longest garbage collection, and how long each staff request took.

Run: ``.venv/bin/python benchmarks/staff_bench.py`` (``--help`` for the options; ``--quick`` for a
smoke run on 5,000 intakes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing
import random
import re
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import orjson  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from telegram import Update  # noqa: E402
from telegram.warnings import PTBUserWarning  # noqa: E402

from benchmarks.telegram_bench import Hints, Patient, StubNetwork  # noqa: E402
from bot import heap  # noqa: E402
from bot.channels.telegram.channel import TelegramChannel  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.flow import load_checked  # noqa: E402
from bot.staff.accounts import Accounts  # noqa: E402
from bot.staff.filters import Filters  # noqa: E402
from bot.staff.web import create_app  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.store.schema import intakes, messages  # noqa: E402
from bot.store.search_index import fill_missing  # noqa: E402

FLOW = ROOT / "flows" / "skin_botox.yaml"
TOKEN = "123456:" + "A" * 35
STAFF, PASSWORD = "bench", "a-long-password"
INTERVAL = 0.05  # a patient's update every 50 ms: 20 a second
SEED_DONE, SEED_OPEN = 40, 12  # distinct conversations: completed (or ended early), left in progress
TRANSCRIPT_EVERY = 40  # one copied intake in this many gets a copy of its transcript
FIRST = ("Patricia", "Patrick", "Anna", "Mohammed", "Chloé", "Olusegun", "Pat", "Sofia", "Wei", "Jan")
LAST = ("Patel", "Smith", "Nowak", "García", "Okafor", "Li", "Fitzpatrick", "Jones", None)
SOURCES = ("website", "instagram", "flyer", None)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


# --- the database -------------------------------------------------------------------------------


async def play(channel: TelegramChannel, network: StubNetwork, patient: Patient, limit: int | None = None) -> None:
    """One patient's intake through the real channel, until it ends (or after ``limit`` updates)."""
    while limit is None or patient.updates < limit:
        data = patient.next_update(network.live.get(patient.chat_id))
        if data is None:
            return
        if not await channel.process(Update.de_json(data, channel.bot)):
            raise RuntimeError(f"a turn failed in chat {patient.chat_id}")
        await channel.outbox.idle()


async def seed(channel: TelegramChannel, network: StubNetwork, hints: Hints) -> None:
    """A few dozen distinct intakes done by the real engine: the templates of the copies."""
    ids = iter(range(1, 10_000_000))
    for number in range(SEED_DONE + SEED_OPEN):
        patient = Patient(900_000_001 + number, 7, hints, ids)
        await play(channel, network, patient, None if number < SEED_DONE else 3 + number % 12)
    await channel.drain()


def fill(store: Store, count: int, rng: random.Random) -> int:
    """``count`` copies of the seeded intakes (and some transcripts); how many messages were copied."""
    with store.engine.connect() as conn:
        templates = [dict(r._mapping) for r in conn.execute(sa.select(intakes))]
        lines: dict[int, list[dict[str, Any]]] = {}
        for row in conn.execute(sa.select(messages).order_by(messages.c.id)):
            lines.setdefault(row.intake_id, []).append(dict(row._mapping))
    done = [t for t in templates if t["status"] != "in_progress"]
    open_ = [t for t in templates if t["status"] == "in_progress"]
    first_id = max(t["id"] for t in templates) + 1
    now = datetime.now(UTC)
    copied = 0
    with store.engine.begin() as conn:
        for start in range(0, count, 5000):
            rows, transcript = [], []
            for offset in range(start, min(count, start + 5000)):
                template = rng.choice(done if rng.random() < 0.85 else open_)
                row, shift = copy_intake(template, first_id + offset, now, rng)
                rows.append(row)
                if offset % TRANSCRIPT_EVERY == 0:
                    transcript += [copy_line(line, row, shift) for line in lines.get(template["id"], ())]
            conn.execute(intakes.insert(), rows)
            if transcript:
                conn.execute(messages.insert(), transcript)
            copied += len(transcript)
        fill_missing(conn)  # the copies' search texts, as a turn would have written them
    return copied


def copy_intake(
    template: dict[str, Any], intake_id: int, now: datetime, rng: random.Random
) -> tuple[dict[str, Any], timedelta]:
    """A copy of a seeded intake under another name, started some time in the last year."""
    row = dict(template)
    created = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
    shift = created - template["created_at"].replace(tzinfo=UTC)
    first, last = rng.choice(FIRST), rng.choice(LAST)
    chat = 5_000_000_000 + intake_id
    row.update(
        id=intake_id,
        chat_id=chat,
        user_id=chat,
        first_name=first,
        last_name=last,
        username=f"{first.lower()}{intake_id}" if rng.random() < 0.6 else None,
        source=rng.choice(SOURCES),
        prompt_message_id=None,
        created_at=created,
        updated_at=created + timedelta(minutes=rng.uniform(1, 20)),
        reviewed_at=None,
        reviewed_by=None,
    )
    for key in ("consented_at", "completed_at", "human_requested_at", "reminded_at"):
        if row[key] is not None:
            row[key] = row[key].replace(tzinfo=UTC) + shift
    if row["status"] == "completed" and rng.random() < 0.3:
        row.update(reviewed_at=row["updated_at"] + timedelta(days=1), reviewed_by=STAFF)
    return row, shift


def copy_line(line: dict[str, Any], intake: dict[str, Any], shift: timedelta) -> dict[str, Any]:
    row = {k: v for k, v in line.items() if k != "id"}
    row.update(intake_id=intake["id"], chat_id=intake["chat_id"], update_id=None)
    for key in ("at", "sent_at"):
        if row[key] is not None:
            row[key] = row[key].replace(tzinfo=UTC) + shift
    return row


# --- measuring ----------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    turns: list[float] = field(default_factory=list)  # await channel.process(update), seconds
    waits: list[float] = field(default_factory=list)  # update sent -> every reply sent, seconds
    gap: float = 0.0  # the ticker's longest gap past its 1 ms sleep
    gap_ended: float = 0.0  # when it ended (perf_counter)
    request_ends: list[float] = field(default_factory=list)  # perf_counter
    gc_pause: float = 0.0  # the longest garbage collection
    requests: list[float] = field(default_factory=list)  # each staff request, seconds


class Collections:
    """The longest garbage collection since ``longest`` was last set to 0 (gc.callbacks)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._began = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._began)


class Patients:
    """One patient after another doing intakes, an update every INTERVAL seconds."""

    def __init__(self, channel: TelegramChannel, network: StubNetwork, hints: Hints):
        self.channel, self.network, self.hints = channel, network, hints
        self.ids = iter(range(100_000_001, 200_000_000))
        self.next_chat = 700_000_001
        self.patient = self._new()

    def _new(self) -> Patient:
        self.next_chat += 1
        return Patient(self.next_chat, 3, self.hints, self.ids)

    def update(self) -> Update:
        while True:
            data = self.patient.next_update(self.network.live.get(self.patient.chat_id))
            if data is not None:
                return Update.de_json(data, self.channel.bot)
            self.patient = self._new()

    async def run(self, phase: Phase, stop: asyncio.Event) -> None:
        clock, outbox = time.perf_counter, self.channel.outbox
        due = clock()
        while not stop.is_set():
            update = self.update()
            await asyncio.sleep(max(0.0, due - clock()))
            sent = min(due, clock())  # the patient pressed or typed then: a blocked loop wakes us late
            began = clock()
            if not await self.channel.process(update):
                raise RuntimeError(f"update {update.update_id} failed")
            phase.turns.append(clock() - began)
            await outbox.idle()
            phase.waits.append(clock() - sent)
            due = max(due + INTERVAL, clock())  # the next one once this was answered


async def ticker(phase: Phase, stop: asyncio.Event) -> None:
    clock = time.perf_counter
    while not stop.is_set():
        began = clock()
        await asyncio.sleep(0.001)
        gap = clock() - began - 0.001
        if gap > phase.gap:
            phase.gap, phase.gap_ended = gap, clock()


Staff = Callable[[], Awaitable[Any]]


async def measure(
    name: str, patients: Patients, collections: Collections, seconds: float, staff: Staff | None = None
) -> Phase:
    """Patients' turns for ``seconds``, while ``staff`` runs back to back (at least once, to the end)."""
    phase = Phase(name)
    stop = asyncio.Event()
    collections.longest = 0.0
    tasks = [asyncio.create_task(patients.run(phase, stop)), asyncio.create_task(ticker(phase, stop))]
    await asyncio.sleep(INTERVAL)  # the patient has started
    began = time.perf_counter()
    if staff is None:
        await asyncio.sleep(seconds)
    else:
        while not phase.requests or time.perf_counter() - began < seconds:
            start = time.perf_counter()
            await staff()
            phase.requests.append(time.perf_counter() - start)
            phase.request_ends.append(time.perf_counter())
    stop.set()
    await asyncio.gather(*tasks)
    phase.gc_pause = collections.longest
    return phase


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


HEADER = (
    f"  {'phase':<44} {'turns':>5}  {'median':>6} {'p95':>6} {'p99':>6} {'max':>6}  "
    f"{'p99':>6} {'max':>6}  {'gap':>6} {'gc':>5}  staff requests"
)


def line(phase: Phase) -> str:
    ms = lambda s: f"{1000 * s:6.1f}"  # noqa: E731
    turns, waits = phase.turns, phase.waits
    if not turns:
        return f"  {phase.name:<44} no turns"
    figures = " ".join(ms(v) for v in (statistics.median(turns), *(percentile(turns, p) for p in (0.95, 0.99))))
    staff = ""
    if phase.requests:
        each = phase.requests
        staff = f"{len(each)} x {statistics.median(each):.3f} s" + (f" (max {max(each):.3f})" if len(each) > 1 else "")
        # where the longest stall was: at a request's very end is the response (encoding, copying)
        end = min(phase.request_ends, key=lambda t: abs(t - phase.gap_ended))
        staff += f"; the longest gap ended {max(0.0, end - phase.gap_ended):.2f} s before a request's end"
    return (
        f"  {phase.name:<44} {len(turns):5d}  {figures} {ms(max(turns))}  {ms(percentile(waits, 0.99))} "
        f"{ms(max(waits))}  {ms(phase.gap)} {1000 * phase.gc_pause:5.0f}  {staff}"
    )


# --- the staff side ---------------------------------------------------------------------------


async def log_in(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    match = CSRF.search(page.text)
    if page.status_code != 200 or match is None:
        raise RuntimeError(f"GET /login: {page.status_code}, no csrf token")
    answer = await client.post("/login", data={"name": STAFF, "password": PASSWORD, "csrf": match.group(1)})
    if answer.status_code != 303 or answer.headers.get("location") != "/":
        raise RuntimeError(f"POST /login: {answer.status_code}, not logged in")


def getter(client: httpx.AsyncClient, url: str, sizes: list[int]) -> Staff:
    async def get() -> None:
        answer = await client.get(url)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {url}: {answer.status_code}")
        sizes.append(len(answer.content))

    return get


@contextmanager
def switch_interval(seconds: float) -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def whole_bundle(web: Any) -> dict[str, Any]:
    """The FHIR export as the code before streaming built it: every intake read, one bundle in memory."""
    review, exporter = web.review, web.exporter
    items = [intake for batch in review.intakes(review.export_ids(Filters()), batch=10**9) for intake in batch]
    entries = [{"fullUrl": exporter.canonical(), "resource": exporter.questionnaire()}]
    entries += [{"fullUrl": f"urn:uuid:intake-{i.id}", "resource": exporter.response(i)} for i in items]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def export_elsewhere(database_url: str, fmt: str) -> int:
    """In a subprocess: what the export route does (read, audit, write out); the document's size."""
    warnings.filterwarnings("ignore", category=PTBUserWarning)
    store = Store(database_url)
    try:
        web = create_app(Engine(load_checked(FLOW)), store, "x" * 32).state.web
        ids = web.review.export_ids(Filters())
        web.review.record_all(STAFF, "export", ids, fmt)
        return sum(len(chunk) for chunk in web.exporter.chunks(fmt, web.review.intakes(ids)))
    finally:
        store.close()


# --- main ---------------------------------------------------------------------------------------


@dataclass
class Bench:
    """The shipped channel on a stub network, over a SQLite file, as ``serve`` starts them."""

    engine: Engine
    store: Store
    channel: TelegramChannel
    network: StubNetwork
    hints: Hints
    url: str


@contextlib.asynccontextmanager
async def started(url: str) -> AsyncIterator[Bench]:
    engine = Engine(load_checked(FLOW))
    store = Store.open(url)
    store.checkpoint_in_background()  # as serve does
    network = StubNetwork()
    settings = Settings(telegram_token=TOKEN, database_url=url, chat_rate=1000.0)
    channel = TelegramChannel(settings, engine, store, request=network, rate_limit=False)
    await channel.start()  # the stub answers getMe, setMyCommands and deleteWebhook
    try:
        yield Bench(engine, store, channel, network, Hints(engine), url)
    finally:
        await channel.stop()
        store.close()


async def populate(bench: Bench, count: int, rng_seed: int) -> str:
    """The database: seeded intakes, then ``count`` copies; what was made, in words.

    ``benchmarks/export_bench.py`` builds its database with this too."""
    began = time.perf_counter()
    await seed(bench.channel, bench.network, bench.hints)
    seeded = time.perf_counter() - began
    began = time.perf_counter()
    lines = fill(bench.store, count, random.Random(rng_seed))
    filled = time.perf_counter() - began
    size = Path(bench.url.removeprefix("sqlite:///")).stat().st_size / 1e6
    return (
        f"{SEED_DONE + SEED_OPEN} intakes done by the engine in {seeded:.1f} s, then "
        f"{count:,} copies and {lines:,} transcript lines inserted in {filled:.1f} s ({size:.0f} MB)"
    )


async def main(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore", category=PTBUserWarning)
    with tempfile.TemporaryDirectory(prefix="staff-bench-") as tmp:
        async with started(f"sqlite:///{Path(tmp) / 'intake.db'}") as bench:
            return await run(args, bench)


async def run(args: argparse.Namespace, bench: Bench) -> int:
    engine, store, channel, url = bench.engine, bench.store, bench.channel, bench.url
    made = await populate(bench, args.intakes, args.seed)
    print(
        f"Patients' turns beside staff work, one process and one event loop ({FLOW.name}, SQLite on disk, "
        f"phases of {args.seconds:g} s or one staff request at least)"
    )
    print(f"  database: {made}", flush=True)
    Accounts(store).add(STAFF, PASSWORD, "admin")
    app = create_app(engine, store, "x" * 32)
    web = app.state.web
    transport = httpx.ASGITransport(app=app)
    sizes: dict[str, list[int]] = {"fhir": [], "csv": [], "list": []}
    async with httpx.AsyncClient(transport=transport, base_url="http://staff", timeout=None) as client:
        await log_in(client)
        patients = Patients(channel, bench.network, bench.hints)
        collections = Collections()
        fhir = getter(client, "/export?format=fhir", sizes["fhir"])
        await getter(client, "/?q=pat&page=400", sizes["list"])()  # templates compiled, caches warm
        heap.settle()  # as serve leaves the collector once started

        async def on_loop() -> None:
            # What the code before the staff threads did: the whole export, built at once, on the loop.
            json.dumps(whole_bundle(web), ensure_ascii=False, indent=2).encode()

        async def fresh_login() -> None:
            async with httpx.AsyncClient(transport=transport, base_url="http://staff") as other:
                await log_in(other)

        async def in_subprocess() -> None:
            await asyncio.get_running_loop().run_in_executor(elsewhere, export_elsewhere, url, "fhir")

        plain = contextlib.nullcontext
        runs: list[tuple[str, Staff | None, Callable[[], contextlib.AbstractContextManager[Any]]]] = [
            ("(a) idle", None, plain),
            ("(b) FHIR export, staff threads", fhir, plain),
            ("(c) CSV export, staff threads", getter(client, "/export?format=csv", sizes["csv"]), plain),
            ("(d) GET /?q=pat&page=400 back to back", getter(client, "/?q=pat&page=400", sizes["list"]), plain),
            ("(e) logins back to back", fresh_login, plain),
            ("(b') FHIR export on the event loop (old code)", on_loop, plain),
        ]
        if args.gil:
            runs += [
                ("(b'') FHIR export, staff threads, switch 1 ms", fhir, lambda: switch_interval(0.001)),
                ("(b''') FHIR export in a subprocess", in_subprocess, plain),
            ]
        runs.append(("(a) idle again", None, plain))
        print(f"  {'':<50}  {'await process(update), ms':^27}  {'waited, ms':^13}  {'loop, ms':^12}")
        print(HEADER)
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as elsewhere:
            if args.gil:
                await asyncio.get_running_loop().run_in_executor(elsewhere, int, "0")  # started beforehand
            for name, staff, context in runs:
                with context():
                    phase = await measure(name, patients, collections, args.seconds, staff)
                print(line(phase), flush=True)
    documents = ", ".join(f"{k} {statistics.median(v) / 1e6:.1f} MB" for k, v in sizes.items() if v)
    print(
        "  turns: taken in the phase; await process(update): one turn's time; waited: from the patient's update "
        "until every reply was sent (with any wait for a blocked loop); gap: the longest a 1 ms sleep overslept; "
        f"gc: the longest garbage collection. Documents: {documents}."
    )
    if args.breakdown:
        print(breakdown(web))
    return 0


def breakdown(web: Any) -> str:
    """Where the FHIR export's time goes, each part alone with nothing else running."""
    clock = time.perf_counter
    began = clock()
    ids = web.review.export_ids(Filters())
    read = clock()
    web.review.record_all(STAFF, "export", ids, "fhir")
    audited = clock()
    bundle = whole_bundle(web)
    built = clock()
    items = ids
    text = json.dumps(bundle, ensure_ascii=False, indent=2)
    indented = clock()
    text.encode()
    encoded = clock()
    json.dumps(bundle, ensure_ascii=False)
    compact = clock()
    orjson.dumps(bundle, option=orjson.OPT_INDENT_2)
    fast = clock()
    return (
        f"  the FHIR export of {len(items):,} intakes built whole (the code before streaming), part by part: "
        f"ids {read - began:.2f} s, audit lines {audited - read:.2f} s (the write lock held that long), "
        f"read and bundle {built - audited:.2f} s, "
        f"json.dumps(indent=2) {indented - built:.2f} s ({len(text) / 1e6:.0f} MB), then its encoding to bytes "
        f"(in Response, on the loop) {encoded - indented:.2f} s; for comparison json.dumps without indent "
        f"{compact - encoded:.2f} s, orjson.dumps(OPT_INDENT_2) {fast - compact:.2f} s"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intakes", type=int, default=100_000, help="intakes in the database (default 100000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of each phase at least (default 5)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5000 intakes, 1.5 s phases")
    parser.add_argument("--seed", type=int, default=1, help="which copies (default 1)")
    parser.add_argument(
        "--gil", action="store_true", help="also the FHIR export with a 1 ms GIL switch interval, and in a subprocess"
    )
    parser.add_argument("--breakdown", action="store_true", help="then time the FHIR export's parts, each alone")
    args = parser.parse_args()
    if args.quick:
        args.intakes, args.seconds = 5000, 1.5
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
