"""Updates per second through the whole Telegram bot, beside the same flow on a ConversationHandler.

Both bots run in this process on python-telegram-bot's real ``Application`` with a stub
network: a ``BaseRequest`` whose ``do_request`` serialises the call's parameters as an HTTP client
would and answers at once with a realistic Bot API result (a ``Message`` for sendMessage and the
edits). Only the network is fake.

- Ours: the shipped ``TelegramChannel``. Each update is one turn committed to a SQLite file on disk
  (as the store configures it: WAL with synchronous=NORMAL, so a commit survives a killed process
  without an fsync per commit), then the turn's replies are sent from the outbox and marked sent.
  The rate limiter is off and the per-chat pace unlimited: they are policy, not cost.
- The ConversationHandler version (``benchmarks/conversation_handler_flow.py``): the usual way to
  write the flow with python-telegram-bot, in memory, deciding with the same engine and rendering the
  same messages with the same Bot API calls. The difference is the cost of durability and of our
  update path.

Simulated patients (many chats in flight at once, taking turns) do complete intakes of the default
flow from ``/start`` to an ending: they press buttons from the keyboards the bot sent, type the
text answers, tick multiple choices then press Done, now and then type a choice's label, type
something invalid, go back, or change an answer at the summary, and confirm. A few end early
(declined consent, under 18, an urgent answer). Both versions get the same patients, so the same
updates. Only ``await process(update)`` is timed (for ours, with the outbox delivery it starts);
the patients' thinking and building the ``Update`` objects are not.

Run: ``.venv/bin/python benchmarks/telegram_bench.py`` (``--help`` for the options). ``--profile``
runs our path under cProfile instead; it inflates code made of many small calls (python-telegram-bot's
objects) more than SQLite's C code, so read its shares with care.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import random
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telegram import Update  # noqa: E402
from telegram.request import BaseRequest, RequestData  # noqa: E402
from telegram.warnings import PTBUserWarning  # noqa: E402

from benchmarks.conversation_handler_flow import build_application  # noqa: E402
from bot import heap  # noqa: E402
from bot.channels.telegram.channel import TelegramChannel  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.flow import load_checked, model  # noqa: E402
from bot.store import Store  # noqa: E402

FLOW = ROOT / "flows" / "skin_botox.yaml"
TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijk"
BOT_USER = {
    "id": 123456789,
    "is_bot": True,
    "first_name": "Clinic intake",
    "username": "clinic_intake_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
CHECK_MARKS = ("☐", "☑")


# --- the stub network ---------------------------------------------------------------------------


@dataclass
class Live:
    """The last message the bot sent to a chat that may carry buttons (what the patient sees)."""

    message_id: int
    text: str
    keyboard: dict[str, Any] | None


class StubNetwork(BaseRequest):
    """The Bot API answering at once; remembers each chat's live message and counts the calls."""

    def __init__(self) -> None:
        self.last_id = 0
        self.live: dict[int, Live] = {}
        self.calls: Counter[str] = Counter()
        self.date = int(time.time())

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        name = url.rpartition("/")[2]
        self.calls[name] += 1
        # What an HTTP client sends: every parameter JSON-encoded (HTTPXRequest does the same).
        params = request_data.json_parameters if request_data is not None else {}
        result: Any = True
        if name in ("sendMessage", "editMessageText", "editMessageReplyMarkup"):
            result = self._message(name, params)
        elif name == "getMe":
            result = BOT_USER
        elif name == "getMyCommands":
            result = []
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def _message(self, name: str, params: dict[str, str]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        markup = params.get("reply_markup")
        keyboard = json.loads(markup) if markup else None
        live = self.live.get(chat_id)
        if name == "sendMessage":
            self.last_id += 1
            message_id = self.last_id
            text = params["text"]
            self.live[chat_id] = Live(message_id, text, keyboard)
        else:
            message_id = int(params["message_id"])
            is_live = live is not None and live.message_id == message_id
            text = params.get("text") or (live.text if is_live else "…")
            if is_live:  # an edit without reply_markup removes the keyboard
                self.live[chat_id] = Live(message_id, text, keyboard)
        result: dict[str, Any] = {
            "message_id": message_id,
            "from": BOT_USER,
            "chat": {"id": chat_id, "type": "private", "first_name": f"Patient {chat_id}"},
            "date": self.date,
            "text": text,
        }
        if name != "sendMessage":
            result["edit_date"] = self.date
        if keyboard:
            result["reply_markup"] = keyboard
        return result


# --- the patients -------------------------------------------------------------------------------


class Patient:
    """One person doing an intake, answering whatever the bot last showed them."""

    TEXTS = (
        "Softer lines on my forehead, please.",
        "Less shine during the day and smaller pores.",
        "+44 20 7946 0000",
        "jane.doe@example.com",
        "It went well, a little bruising for two days.",
    )

    def __init__(self, chat_id: int, seed: int, hints: Hints, ids: Any):
        self.chat_id = chat_id
        self.rng = random.Random(f"{seed}/{chat_id}")
        self.hints = hints
        self.ids = ids  # shared update_id counter
        self.user = {"id": chat_id, "is_bot": False, "first_name": f"Patient {chat_id}", "language_code": "en"}
        self.chat = {"id": chat_id, "type": "private", "first_name": f"Patient {chat_id}"}
        r = self.rng.random()  # a few end early: declined consent, under 18, an urgent answer
        self.ends_early = "decline" if r < 0.01 else "under_18" if r < 0.02 else "urgent" if r < 0.04 else ""
        self.started = False
        self.backs = 0
        self.changed = False
        self.target = 0  # how many choices to tick at the current multiple-choice question
        self.updates = 0
        self.ended = False  # reached an ending (only the booking link left)

    def next_update(self, live: Live | None) -> dict[str, Any] | None:
        """The next thing this patient does, as Bot API update JSON; None when the intake is over."""
        if not self.started:
            self.started = True
            return self._message("/start website")
        self.updates += 1
        if live is None or self.updates > 150:
            return None
        buttons = [b for row in (live.keyboard or {}).get("inline_keyboard", ()) for b in row]
        pressable = [b for b in buttons if "callback_data" in b]
        if not pressable:
            # Only the booking link is left: the ending. Declining consent ends with no button at
            # all (nothing was stored, so there is nothing to book from).
            self.ended = bool(buttons) or self.ends_early == "decline"
            return None
        hints, rng = self.hints, self.rng
        back = next((b for b in pressable if b["text"].startswith("⬅️")), None)
        skip = next((b for b in pressable if b["text"] == hints.skip), None)
        nav = [b for b in (back, skip) if b is not None]
        options = [b for b in pressable if b not in nav]
        if not options:  # a text question: only Back and Skip are offered
            if skip is not None and rng.random() < 0.25:
                return self._press(live, skip)
            return self._message(rng.choice(self.TEXTS))
        labels = [b["text"] for b in options]
        if labels[-1] == hints.confirm:  # the summary: sometimes change one answer first
            if not self.changed and rng.random() < 0.3:
                self.changed = True
                return self._press(live, rng.choice(options[:-1]))
            return self._press(live, options[-1])
        if len(options) == 1:  # Continue on an information step
            return self._press(live, options[0])
        if labels[0].startswith(CHECK_MARKS):  # multiple choice: tick, then Done
            return self._multi(live, options)
        avoid = hints.avoid_for(live.text)
        if self.ends_early and avoid.get(self.ends_early):
            wanted = avoid[self.ends_early]
            return self._press(live, next(b for b in options if b["text"] in wanted))
        avoided = set().union(*avoid.values()) if avoid else set()
        choices = [b for b in options if b["text"] not in avoided]
        r = rng.random()
        if back is not None and self.backs < 2 and r < 0.03:
            self.backs += 1
            return self._press(live, back)
        if r < 0.05:
            return self._message("maybe, not sure")  # not a choice: asked again
        choice = rng.choice(choices)
        if r < 0.15:
            return self._message(choice["text"].lower())  # typing a label works too
        return self._press(live, choice)

    def _multi(self, live: Live, options: list[dict[str, Any]]) -> dict[str, Any]:
        ticked = [b for b in options if b["text"].startswith("☑")]
        if not ticked:
            self.target = 1 if self.rng.random() < 0.5 else 2
        plain = [b for b in options[:-1] if b["text"].startswith("☐") and b["text"][2:] not in self.hints.exclusive]
        exclusive = [b for b in options[:-1] if b["text"][2:] in self.hints.exclusive]
        if not ticked and exclusive and self.rng.random() < 0.4:
            return self._press(live, exclusive[0])  # "None of these"
        if len(ticked) < self.target and plain and not any(b["text"][2:] in self.hints.exclusive for b in ticked):
            return self._press(live, self.rng.choice(plain))
        return self._press(live, options[-1])  # Done

    def _message(self, text: str) -> dict[str, Any]:
        update_id = next(self.ids)
        message: dict[str, Any] = {
            "message_id": 1_000_000_000 + update_id,
            "from": self.user,
            "chat": self.chat,
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"update_id": update_id, "message": message}

    def _press(self, live: Live, button: dict[str, Any]) -> dict[str, Any]:
        update_id = next(self.ids)
        return {
            "update_id": update_id,
            "callback_query": {
                "id": f"{self.chat_id}{update_id}",
                "from": self.user,
                "chat_instance": f"-{self.chat_id}",
                "data": button["callback_data"],
                "message": {
                    "message_id": live.message_id,
                    "from": BOT_USER,
                    "chat": self.chat,
                    "date": int(time.time()),
                    "text": live.text,
                    "reply_markup": live.keyboard,
                },
            },
        }


class Hints:
    """What a patient reads off the flow: button labels, and which answers end an intake early."""

    def __init__(self, engine: Engine):
        messages = engine.messages[engine.flow.default_language]
        self.skip = messages["skip"]
        self.confirm = messages["confirm"]
        lang = engine.flow.default_language
        self.exclusive = {
            engine.text(c.label, lang) for s in engine.flow.steps for c in getattr(s, "choices", ()) if c.exclusive
        }
        self.early: list[tuple[str, dict[str, set[str]]]] = []
        for step in engine.flow.steps:
            if isinstance(step, model.ConsentStep):
                self.early.append((engine.text(step.text, lang)[:60], {"decline": {engine.text(step.decline, lang)}}))
            elif step.id == "age_band":
                under = next(c for c in step.choices if c.id == "under_18")
                self.early.append((engine.text(step.ask, lang), {"under_18": {engine.text(under.label, lang)}}))
            elif step.id in ("toxin_symptoms_now", "allergy_signs_now"):
                self.early.append((engine.text(step.ask, lang), {"urgent": {messages["yes"]}}))

    def avoid_for(self, text: str) -> dict[str, set[str]]:
        return next((labels for start, labels in self.early if start in text), {})


# --- running a round ----------------------------------------------------------------------------


@dataclass
class Round:
    updates: int = 0
    seconds: float = 0.0  # inside process(update) only
    parse_seconds: float = 0.0  # Update.de_json, the same for both versions (not in the figures)
    unfinished: int = 0  # patients who never reached an ending (a bug in the bot or the patients)
    calls: Counter[str] = field(default_factory=Counter)
    commits: int = 0  # ours: transactions committed by the group commit
    carried: int = 0  # ours: turns they carried

    @property
    def rate(self) -> float:
        return self.updates / self.seconds

    @property
    def micros(self) -> float:
        return 1e6 * self.seconds / self.updates


Process = Callable[[list[Update]], Awaitable[Any]]


@dataclass
class Contestant:
    """One version under test: how it takes a batch of updates, and its own stub network."""

    name: str
    process: Process
    network: StubNetwork
    bot: Any  # for Update.de_json
    finish: Callable[[], Awaitable[None]]  # timed once at the end (ours records its last marks)
    close: Callable[[], Awaitable[None]]
    stats: Callable[[Round], None] = lambda result: None


class Crowd:
    """The patients of one contestant. Every crowd of a round is made alike: the same people
    doing the same things, so every contestant gets the very same updates."""

    def __init__(self, contestant: Contestant, hints: Hints, patients: int, seed: int):
        self.contestant = contestant
        ids = iter(range(seed * 10_000_000 + 1, seed * 10_000_000 + 10_000_000))
        self.people = [Patient(chat_id, seed, hints, ids) for chat_id in range(1_000_001, 1_000_001 + patients)]
        self.result = Round()

    def tick(self, batch: int) -> list[list[Update]]:
        """Every patient still busy does one thing: their updates, cut into batches."""
        clock, live = time.perf_counter, self.contestant.network.live
        still, updates = [], []
        for person in self.people:
            data = person.next_update(live.get(person.chat_id))
            if data is None:
                self.result.unfinished += not person.ended
                continue
            still.append(person)
            began = clock()
            updates.append(Update.de_json(data, self.contestant.bot))
            self.result.parse_seconds += clock() - began
        self.people = still
        return [updates[i : i + batch] for i in range(0, len(updates), batch)]

    async def take(self, updates: list[Update]) -> None:
        began = time.perf_counter()
        await self.contestant.process(updates)
        self.result.seconds += time.perf_counter() - began
        self.result.updates += len(updates)


async def drive(contestants: list[Contestant], hints: Hints, patients: int, seed: int, batch: int) -> list[Round]:
    """All patients in flight at once, taking turns, each until their intake ends.

    Each round of turns, every patient still busy does one thing. With ``batch`` 1 the updates
    are processed one at a time, each only after the one before was answered; otherwise they
    are handed over ``batch`` at a time, the way ``getUpdates`` returns what piled up (at most
    100) while the bot was busy. A patient acts only on what the bot last showed them.

    The contestants run in lockstep, taking a batch each in turn: this machine is a shared
    virtual one whose speed drifts by a third within seconds, and so a drift hits both alike.
    """
    crowds = [Crowd(c, hints, patients, seed) for c in contestants]
    # The garbage collector as `python -m bot run` leaves it once started (bot/heap.py). It is
    # process-wide, so both versions run with it.
    heap.settle()
    while any(crowd.people for crowd in crowds):
        ticks = [crowd.tick(batch) for crowd in crowds]
        for chunks in zip(*ticks, strict=True):
            for crowd, updates in zip(crowds, chunks, strict=True):
                await crowd.take(updates)
    results = []
    for crowd in crowds:
        began = time.perf_counter()
        await crowd.contestant.finish()
        crowd.result.seconds += time.perf_counter() - began
        crowd.result.calls = crowd.contestant.network.calls
        crowd.contestant.stats(crowd.result)
        await crowd.contestant.close()
        results.append(crowd.result)
    return results


async def ours(engine: Engine, tmp: Path, profile: Any = None) -> Contestant:
    """The shipped TelegramChannel on a fresh SQLite file."""
    network = StubNetwork()
    db = tmp / f"ours-{time.monotonic_ns()}.db"
    settings = Settings(telegram_token=TOKEN, database_url=f"sqlite:///{db}", chat_rate=1e9)
    store = Store.open(settings.database_url)
    store.checkpoint_in_background()  # as python -m bot run and serve do
    channel = TelegramChannel(settings, engine, store, request=network, rate_limit=False)
    await channel.application.initialize()

    async def process(updates: list[Update]) -> None:
        if profile is not None:
            profile.enable()
        try:
            if len(updates) == 1:
                ok = await channel.process(updates[0])
            else:  # what polling does with a getUpdates batch: chats concurrently, each in order
                ok = await channel.apply_batch(updates) == updates[-1].update_id + 1
            if not ok:
                raise RuntimeError(f"a turn failed in updates {updates[0].update_id}..{updates[-1].update_id}")
            await channel.outbox.idle()  # every reply sent before the patients read them
        finally:
            if profile is not None:
                profile.disable()

    async def close() -> None:
        await channel.application.shutdown()
        store.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)

    def stats(result: Round) -> None:
        result.commits, result.carried = channel.group.commits, channel.group.carried

    # drain: the last "sent" marks recorded, part of the cost
    return Contestant("ours", process, network, channel.bot, channel.drain, close, stats)


async def baseline(engine: Engine) -> Contestant:
    """The same flow on a ConversationHandler, in memory."""
    network = StubNetwork()
    application = build_application(engine, TOKEN, request=network)
    await application.initialize()

    async def process(updates: list[Update]) -> None:
        for update in updates:  # python-telegram-bot's Application takes its queue one at a time
            await application.process_update(update)

    async def nothing() -> None:
        pass

    return Contestant("base", process, network, application.bot, nothing, application.shutdown)


async def run_pair(
    engine: Engine, hints: Hints, patients: int, seed: int, tmp: Path, batch: int
) -> tuple[Round, Round]:
    """One round: ours and the ConversationHandler version in lockstep (ours, base)."""
    first, second = await drive([await ours(engine, tmp), await baseline(engine)], hints, patients, seed, batch)
    return first, second


class TimedEngine(Engine):
    """The engine with a stopwatch on its public operations (outermost calls only)."""

    OPERATIONS = (
        "start",
        "step",
        "finished",
        "view",
        "reply",
        "choose",
        "toggle",
        "submit_selection",
        "skip",
        "back",
        "change",
        "display",
        "summary",
        "message",
        "text",
        "language_for",
    )

    def __init__(self, flow: Any):
        super().__init__(flow)
        self.seconds = 0.0
        self._depth = 0
        for name in self.OPERATIONS:
            setattr(self, name, self._timed(getattr(self, name)))

    def _timed(self, method: Callable[..., Any]) -> Callable[..., Any]:
        clock = time.perf_counter

        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return method(*args, **kwargs)
            self._depth += 1
            began = clock()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds += clock() - began
                self._depth -= 1

        return timed


# --- main -----------------------------------------------------------------------------------------


def report_line(name: str, best: Round, rates: list[float]) -> str:
    spread = f"rounds {', '.join(f'{r:.0f}' for r in rates)}"
    return (
        f"  {name:<21} {best.updates:6d} updates  {best.seconds:6.2f} s  {best.rate:7.0f} updates/s  "
        f"{best.micros:7.0f} µs/update   ({spread})"
    )


@dataclass
class Comparison:
    batch: int
    ours: list[Round] = field(default_factory=list)
    base: list[Round] = field(default_factory=list)


async def compare(engine: Engine, hints: Hints, args: argparse.Namespace, tmp: Path, batch: int) -> Comparison | None:
    """Rounds of both versions in lockstep on the same patients, each on a fresh bot and database."""
    result = Comparison(batch)
    for number in range(1, args.rounds + 1):
        ours_round, base_round = await run_pair(engine, hints, args.patients, args.seed, tmp, batch)
        result.ours.append(ours_round)
        result.base.append(base_round)
        if ours_round.updates != base_round.updates or ours_round.unfinished or base_round.unfinished:
            print(
                f"round {number}: updates {ours_round.updates} / {base_round.updates}, patients without an ending "
                f"{ours_round.unfinished} / {base_round.unfinished} (ours / ConversationHandler): not comparable"
            )
            return None
    return result


def report(comparison: Comparison) -> float:
    """Print one way of feeding the bots; the median over rounds of each round's ratio."""
    ours, base = comparison.ours, comparison.base
    best_ours, best_base = max(ours, key=lambda r: r.rate), max(base, key=lambda r: r.rate)
    ratios = [o.rate / b.rate for o, b in zip(ours, base, strict=True)]
    median = statistics.median(ratios)
    how = (
        "one update at a time, each after the last was answered"
        if comparison.batch == 1
        else f"in batches of up to {comparison.batch}, as getUpdates hands over what piled up"
    )
    print(f"  {how}:")
    print(report_line("ours (SQLite, durable)", best_ours, [r.rate for r in ours]))
    print(report_line("ConversationHandler", best_base, [r.rate for r in base]))
    print(
        f"    ratio ours / ConversationHandler: median {median:.2f} (rounds {', '.join(f'{r:.2f}' for r in ratios)}); "
        f"extra cost of ours {best_ours.micros - best_base.micros:.0f} µs/update; "
        f"{best_ours.commits} commits, {best_ours.carried / max(1, best_ours.commits):.1f} turns each"
    )
    return median


async def main(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore", message=".*per_message.*", category=PTBUserWarning)
    engine = Engine(load_checked(FLOW))
    hints = Hints(engine)
    with tempfile.TemporaryDirectory(prefix="telegram-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if args.profile:
            return await profile_ours(engine, hints, args, tmp)
        await run_pair(engine, hints, 20, 0, tmp, args.batch)  # warm-up: imports, caches, compiled statements
        comparisons = []
        for batch in dict.fromkeys((args.batch, 1)):
            comparison = await compare(engine, hints, args, tmp, batch)
            if comparison is None:
                return 1
            comparisons.append(comparison)
        # One more small round, with a stopwatch on each version's engine, to see its share.
        timed_ours, timed_base = TimedEngine(engine.flow), TimedEngine(engine.flow)
        contestants = [await ours(timed_ours, tmp), await baseline(timed_base)]
        engine_updates = (await drive(contestants, hints, args.patients // 4, 99, args.batch))[0].updates

    print(
        f"Telegram bot throughput: {args.patients} patients in flight, complete intakes of {FLOW.name}, "
        f"{args.rounds} rounds, both versions in lockstep"
    )
    ratios = [report(comparison) for comparison in comparisons]
    print(
        f"  ratio ours / ConversationHandler under load: {ratios[0]:.2f}   (aim >= 1.00); "
        f"one update at a time: {ratios[1]:.2f}   (aim >= 0.80)"
    )
    best_ours = max(comparisons[0].ours, key=lambda r: r.rate)
    best_base = max(comparisons[0].base, key=lambda r: r.rate)
    engine_ours = 1e6 * timed_ours.seconds / engine_updates
    engine_base = 1e6 * timed_base.seconds / engine_updates
    print(
        f"  engine alone: {engine_ours:.0f} µs/update in ours ({engine_ours / best_ours.micros:.0%}), "
        f"{engine_base:.0f} µs/update in the ConversationHandler version ({engine_base / best_base.micros:.0%})"
    )
    print(
        f"  not timed: Update.de_json {1e6 * best_base.parse_seconds / best_base.updates:.0f} µs/update (same for both)"
    )
    api = lambda r: ", ".join(f"{k} {v}" for k, v in sorted(r.calls.items()) if k != "getMe")  # noqa: E731
    print(f"  Bot API calls, ours:                {api(best_ours)}")
    print(f"  Bot API calls, ConversationHandler: {api(best_base)}")
    return 0


async def profile_ours(engine: Engine, hints: Hints, args: argparse.Namespace, tmp: Path) -> int:
    """cProfile over our path only (process + delivery), the top functions by own and total time."""
    await drive([await ours(engine, tmp)], hints, 20, 0, args.batch)
    profile = cProfile.Profile()
    (result,) = await drive([await ours(engine, tmp, profile)], hints, args.patients, args.seed, args.batch)
    print(f"ours, profiled: {result.updates} updates, {result.micros:.0f} µs/update under the profiler")
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(order).print_stats(args.top)
        print(out.getvalue())
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100, help="patients in flight in each round (default 100)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the median ratio counts (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="which patients (default 1)")
    parser.add_argument(
        "--batch", type=int, default=100, help="updates handed over together under load (default 100, getUpdates' most)"
    )
    parser.add_argument("--profile", action="store_true", help="profile our path with cProfile instead")
    parser.add_argument("--top", type=int, default=40, help="functions to list when profiling (default 40)")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
