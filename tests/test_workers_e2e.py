"""Several webhook workers on one PostgreSQL (issue 15, section 1): three real bot processes behind
a load balancer (``support.workers.Cluster``), 50 patients whose ticks hit two workers at once, a
worker SIGKILLed twice and started again; every answer stored once, every transcript in order,
every reply sent exactly once."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest
from support.databases import postgres_rows
from support.workers import CHOICES, Cluster, play_all, tally_all

pytestmark = pytest.mark.e2e

PATIENTS = 50


def unsent(url: str) -> int:
    [(count,)] = postgres_rows(url, "SELECT count(*) FROM messages WHERE direction = 'out' AND sent_at IS NULL")
    return count


def check_everything(url: str, fake, chats: list[int], expected: dict[int, list[str]], kills: list[float]) -> None:
    # the last "sent" marks ride the workers' next commits (within a fraction of a second)
    fake.wait_for(lambda: unsent(url) == 0, timeout=15)
    # every answer present once: the four ticks and the goal, on a completed intake per chat
    rows = postgres_rows(
        url, "SELECT chat_id, status, state FROM intakes WHERE chat_id = ANY(%s) ORDER BY chat_id", chats
    )
    assert [row[0] for row in rows] == chats, "one intake per patient"
    for chat, status, state in rows:
        answers = state["answers"] if isinstance(state, dict) else json.loads(state)["answers"]
        assert status == "completed", (chat, status)
        assert sorted(answers["concerns"]) == ["lines", "oil", "pores", "sweat"], (chat, answers)
        assert answers["goal"] == f"goal of patient {chat}"
    # every update applied once, and each transcript in the patient's order (a burst's two in either)
    inputs = postgres_rows(
        url,
        "SELECT chat_id, update_id, text FROM messages WHERE direction = 'in' AND chat_id = ANY(%s) ORDER BY id",
        chats,
    )
    assert not [u for u, n in Counter(row[1] for row in inputs).items() if n > 1], "an update applied twice"
    by_chat: dict[int, list[str]] = {}
    for chat, _, text in inputs:
        by_chat.setdefault(chat, []).append(text)
    for chat in chats:
        got, want = by_chat[chat], expected[chat]
        assert len(got) == len(want), (chat, got)
        assert want[0] in got[0] and want[1] in got[1] and want[-2] in got[-2] and got[-1] == want[-1], (chat, got)
        for burst in (got[2:4], got[4:6]):  # each burst's pair, in whichever order the lock gave
            assert sum(any(choice in text for choice in CHOICES) for text in burst) == 2, (chat, got)
        assert all(any(c in " ".join(got[2:6]) for c in [choice]) for choice in CHOICES), (chat, got)
    # every reply sent, exactly once and in order: the fake's sendMessage texts per chat are the
    # outbox's "send" rows, one for one
    outgoing = postgres_rows(
        url,
        "SELECT chat_id, text, sent_at IS NOT NULL FROM messages WHERE direction = 'out' AND kind = 'send' "
        "AND chat_id = ANY(%s) ORDER BY id",
        chats,
    )
    assert all(sent for _, _, sent in outgoing), "a reply never sent"
    stored: dict[int, list[str]] = {}
    for chat, text, _ in outgoing:
        stored.setdefault(chat, []).append(text)
    sent: dict[int, list[tuple[str, float]]] = {}
    for call in fake.calls("sendMessage"):
        if call["status"] == 200:
            sent.setdefault(call["params"]["chat_id"], []).append((call["params"]["text"], call["at"]))
    for chat in chats:
        assert_sent_once(stored[chat], sent[chat], kills)


def assert_sent_once(stored: list[str], sent: list[tuple[str, float]], kills: list[float]) -> None:
    """The chat's messages as Telegram got them are its outbox rows in order, each once; but for
    the rows the killed worker had sent and not yet recorded as sent (their marks ride the next
    commit, within a fraction of a second): they go again, in order, after the lease, from another
    worker. Nothing can tell Telegram's answer from a lost one there; a repeat of a row first sent
    more than a second before any kill is a failure."""
    at = 0
    first: list[float] = []  # when each stored row was first sent
    again: int | None = None  # the stored row a run of repeats goes on with
    for text, when in sent:
        if at < len(stored) and text == stored[at]:
            first.append(when)
            at, again = at + 1, None
            continue
        if again is not None and again < at and stored[again] == text:
            row = again
        else:
            row = max((i for i in range(at) if stored[i] == text), default=None)
        assert row is not None, ("sent, but not a row of the chat's", stored, [t for t, _ in sent])
        assert any(0 <= kill - first[row] < 1.0 for kill in kills), (
            "sent twice, with no worker killed then",
            text[:40],
            [round(when - kills[0], 2) for t, when in sent if t == text],
            [round(kill - kills[0], 2) for kill in kills],
        )
        again = row + 1
    assert at == len(stored), ("a reply never sent", stored, [t for t, _ in sent])


def test_three_workers_fifty_patients_one_killed_twice(fake, postgres_url) -> None:
    cluster = Cluster(fake, postgres_url, workers=3).start()
    chats = [7000 + i for i in range(PATIENTS)]
    stop = threading.Event()
    kills: list[float] = []  # time.monotonic(), the fake's clock for its calls

    def killer() -> None:
        victim = cluster.processes[1]
        for _ in range(2):
            if stop.wait(1.5):
                return
            victim.kill()
            kills.append(time.monotonic())  # once it is dead: it may send up to the last moment
            time.sleep(0.5)
            victim.start()
            cluster.wait_ready(victim)

    chaos = threading.Thread(target=killer)
    try:
        chaos.start()
        began = time.monotonic()
        expected = dict(zip(chats, play_all(cluster, chats), strict=True))
        elapsed = time.monotonic() - began
        stop.set()
        chaos.join()
        fake.wait_for(lambda: unsent(postgres_url) == 0, timeout=15)
        figures = tally_all(cluster, chats)
        print(f"\n{PATIENTS} patients, 3 workers, one SIGKILLed twice: {elapsed:.1f} s, {figures}")
        check_everything(postgres_url, fake, chats, expected, kills)
        assert figures["keyboards_behind"] == 0
        assert elapsed < 60, elapsed
        assert len(kills) == 2, "the run ended before the second kill"
        assert cluster.processes[1].proc.returncode is None  # restarted, and still up
    finally:
        stop.set()
        chaos.join()
        cluster.stop()
