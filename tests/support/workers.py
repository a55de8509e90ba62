"""Several webhook workers (``python -m bot run``) on one database, with a load balancer in front.

``Cluster`` starts the workers, each with a webhook of its own, and stands in for the load balancer
and for Telegram's deliveries: the fake's own webhook worker is switched off and every update is
posted by ``Cluster.post`` to the worker the test chooses; a worker that is down or answers an
error gets it again from the next one, as Telegram would deliver it again. ``play`` runs one
patient of ``tests/flows/workers.yaml`` through it, with a burst of ticks hitting two workers at
once. Used by tests/test_workers_e2e.py and benchmarks/workers_bench.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bot.channels.telegram.render import CHECKED
from support.bot_process import BotProcess, free_port
from support.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
FLOW = str(ROOT / "tests" / "flows" / "workers.yaml")
SECRET = "workers-secret"
CHOICES = ("Fine lines", "Large pores", "Oiliness", "Sweating")
ASK_CONCERNS = "What would you like to improve?"
ASK_GOAL = "In a sentence, your goal?"
THANKS = "Thank you, we have everything."


class Cluster:
    def __init__(self, fake: FakeTelegram, database_url: str, workers: int, **env: str):
        fake.webhook_deliveries = False
        self.fake = fake
        self.database_url = database_url
        self.ports = [free_port() for _ in range(workers)]
        self.processes = [
            BotProcess(
                fake,
                database_url,
                flow=FLOW,
                WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram",
                WEBHOOK_SECRET=SECRET,
                WEBHOOK_LISTEN="127.0.0.1",
                WEBHOOK_PORT=str(port),
                LOG_LEVEL="WARNING",
                **env,
            )
            for port in self.ports
        ]
        self.client = httpx.Client(timeout=20)
        self._turn = 0
        self._lock = threading.Lock()
        self.latencies: list[float] = []  # seconds from POST to its 200, one per update applied
        self.reposts = 0  # updates posted again to another worker (down, or answered an error)
        self.keyboards_behind = 0  # patients whose keyboard never came to show all their ticks
        self.behind: list[int] = []

    def start(self) -> Cluster:
        for process in self.processes:
            process.start()
            self.wait_ready(process)
        return self

    def wait_ready(self, process: BotProcess, timeout: float = 20) -> None:
        """Until the worker's webhook answers (it registers its commands a moment before)."""
        port = self.ports[self.processes.index(process)]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.client.post(f"http://127.0.0.1:{port}/telegram", json={}, headers={})
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError(f"worker on port {port} did not come up:\n{process.read()}")

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        self.client.close()

    def next_worker(self) -> int:
        with self._lock:
            self._turn += 1
            return self._turn % len(self.ports)

    def post(self, update_id: int, worker: int | None = None) -> None:
        """Deliver the update through the load balancer: to ``worker`` (else the next in turn),
        and on to the next worker while one is down or answers an error."""
        body = self.fake.update(update_id)
        worker = self.next_worker() if worker is None else worker
        began = time.monotonic()
        for attempt in range(60):
            port = self.ports[(worker + attempt) % len(self.ports)]
            try:
                response = self.client.post(
                    f"http://127.0.0.1:{port}/telegram",
                    json=body,
                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                )
                if response.status_code == 200:
                    with self._lock:
                        self.latencies.append(time.monotonic() - began)
                    return
            except httpx.HTTPError:
                pass
            with self._lock:
                self.reposts += 1
            time.sleep(0.05 * min(attempt + 1, 10))
        raise AssertionError(f"update {update_id} was never taken")

    def burst(self, update_ids: list[int]) -> None:
        """Updates of one chat posted at once, each to a different worker."""
        first = self.next_worker()
        threads = [
            threading.Thread(target=self.post, args=(update, (first + i) % len(self.ports)))
            for i, update in enumerate(update_ids)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def newest_with(fake: FakeTelegram, chat_id: int, text: str, timeout: float = 30.0) -> dict[str, Any]:
    """The bot's newest message in the chat containing ``text``, waited for."""

    def find() -> dict[str, Any] | None:
        for message in reversed(fake.messages(chat_id)):
            if text in (message["text"] or ""):
                return message
        return None

    found = fake.wait_for(find, timeout=timeout)
    assert found, f"no message with {text!r} in chat {chat_id}:\n{fake.dump()}"
    return found


def ticked(fake: FakeTelegram, chat_id: int, message_id: int) -> int:
    """How many ticks the message's keyboard shows now."""
    message = next(m for m in fake.messages(chat_id) if m["message_id"] == message_id)
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return sum(key["text"].startswith(CHECKED) for row in rows for key in row)


def button(message: dict[str, Any], label: str) -> str:
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        for key in row:
            if label in key["text"]:
                return key["callback_data"]
    raise AssertionError(f"no button {label!r} on {message}")


def play(cluster: Cluster, chat_id: int, on_step: Callable[[], None] = lambda: None, burst: int = 2) -> list[str]:
    """One patient through tests/flows/workers.yaml: /start, consent, four ticks in bursts of
    ``burst`` (a burst's presses posted at once, each to another worker), Done, a typed goal. The
    patient's inputs as the transcript must hold them, in order (within a burst, any order)."""
    fake = cluster.fake
    cluster.post(fake.send_command(chat_id, "/start"))
    consent = newest_with(fake, chat_id, "We ask three questions")
    cluster.post(fake.press(chat_id, consent["message_id"], button(consent, "I agree")))
    on_step()
    question = newest_with(fake, chat_id, ASK_CONCERNS)
    ticks = [fake.press(chat_id, question["message_id"], button(question, label)) for label in CHOICES]
    for at in range(0, len(ticks), burst):
        cluster.burst(ticks[at : at + burst])
        on_step()
    # What the patient sees: the question's keyboard, edited by whichever worker sent each tick's
    # edit, must come to show all four ticks (edits sent out of order leave one off for good).
    try:
        # a SIGKILLed worker's edits are sent by another once their lease ran out (5 s)
        fake.wait_for(lambda: ticked(fake, chat_id, question["message_id"]) == len(CHOICES), timeout=10)
    except AssertionError:
        with cluster._lock:
            cluster.keyboards_behind += 1
            cluster.behind.append(chat_id)
    cluster.post(fake.press(chat_id, question["message_id"], button(question, "Done")))
    on_step()
    newest_with(fake, chat_id, ASK_GOAL)
    cluster.post(fake.send_text(chat_id, f"goal of patient {chat_id}"))
    newest_with(fake, chat_id, THANKS)
    return ["/start", "I agree", *CHOICES, "Done", f"goal of patient {chat_id}"]


def play_all(cluster: Cluster, chats: list[int], threads: int = 12, on_step: Callable[[], None] = lambda: None):
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda chat: play(cluster, chat, on_step), chats))


def rows(url: str, sql: str, chats: list[int]) -> list[tuple]:
    """A query about these chats on either database (``{chats}`` becomes the list of ids)."""
    from support.databases import db_rows, postgres_rows

    sql = sql.format(chats="(" + ", ".join(str(int(chat)) for chat in chats) + ")")
    if url.startswith("sqlite:///"):
        return db_rows(Path(url.removeprefix("sqlite:///")), sql)
    return postgres_rows(url, sql)


def tally(url: str, fake: FakeTelegram, chats: list[int]) -> dict[str, int]:
    """What went wrong, counted: patients whose stored selection misses a tick, updates applied
    twice, replies sent more than once (the fake's sendMessage calls beyond the outbox's rows),
    replies never sent."""
    import json

    short = 0
    for (state,) in rows(url, "SELECT state FROM intakes WHERE chat_id IN {chats}", chats):
        answers = (state if isinstance(state, dict) else json.loads(state))["answers"]
        short += len(answers.get("concerns") or []) != len(CHOICES)
    [(twice,)] = rows(
        url,
        "SELECT count(*) FROM (SELECT update_id FROM messages WHERE direction = 'in' AND chat_id IN {chats} "
        "GROUP BY update_id HAVING count(*) > 1) AS d",
        chats,
    )
    stored: dict[int, int] = {}
    unsent = 0
    for chat, sent in rows(
        url,
        "SELECT chat_id, sent_at IS NOT NULL FROM messages WHERE direction = 'out' AND kind = 'send' "
        "AND chat_id IN {chats}",
        chats,
    ):
        stored[chat] = stored.get(chat, 0) + 1
        unsent += not sent
    calls: dict[int, int] = {}
    for call in fake.calls("sendMessage"):
        if call["status"] == 200 and call["params"]["chat_id"] in stored:
            calls[call["params"]["chat_id"]] = calls.get(call["params"]["chat_id"], 0) + 1
    duplicates = sum(max(0, calls.get(chat, 0) - n) for chat, n in stored.items())
    return {
        "selections_missing_a_tick": short,
        "updates_applied_twice": twice,
        "replies": sum(stored.values()),
        "replies_sent_twice": duplicates,
        "replies_unsent": unsent,
    }


def tally_all(cluster: Cluster, chats: list[int]) -> dict[str, int]:
    return {**tally(cluster.database_url, cluster.fake, chats), "keyboards_behind": cluster.keyboards_behind}
