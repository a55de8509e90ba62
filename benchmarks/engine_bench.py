"""Engine figures for the default flow: cost per answer, memory per idle conversation, load time.

Run with ``make bench``. Aims: under 50 µs per answered question, under 2 KB per idle
conversation with 10,000 restored, under 100 ms to load and check the flow.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.engine import Engine  # noqa: E402
from bot.engine.conversation import Conversation  # noqa: E402
from bot.flow import load_checked, model  # noqa: E402

FLOW = ROOT / "flows" / "skin_botox.yaml"


def scripted_intake(engine: Engine, rng: random.Random) -> list[tuple[str, str]]:
    """A complete, valid intake as (operation, input) pairs; consent is always given."""
    conv = engine.start()
    script: list[tuple[str, str]] = []
    while not engine.finished(conv):
        step = engine.step(conv)
        prompt = engine.view(conv)
        if isinstance(step, model.ConsentStep):
            action = ("choose", "agree")
        elif isinstance(step, model.NumberQuestion):
            action = ("reply", str(int(step.min or 0) + 1))
        elif isinstance(step, model.TextQuestion):
            action = ("reply", "I would like smoother skin before a wedding")
        elif isinstance(step, model.MultiQuestion):
            plain = [o for o in prompt.options if not o.exclusive]
            action = ("reply", rng.choice(plain).label)
        else:
            # any option that does not end the intake early (urgent care, under 18): a full intake
            options = [o.id for o in prompt.options]
            rng.shuffle(options)
            action = ("choose", options[0])
            for option in options:
                trial = Conversation.from_dict(conv.to_dict())
                engine.choose(trial, option)
                if not engine.finished(trial) or isinstance(step, model.SummaryStep):
                    action = ("choose", option)
                    break
        getattr(engine, action[0])(conv, action[1])
        script.append(action)
    return script


def bench_answers(engine: Engine, rng: random.Random, screened: bool = False) -> tuple[float, int, float]:
    """Cost per answer; ``screened``: every answer's words read by the safety screen first, as if
    each one were typed (on Telegram a button press is not read: this is the worst case)."""
    scripts = [scripted_intake(engine, rng) for _ in range(50)]
    answers = 0
    started = time.perf_counter()
    for _ in range(40):
        for script in scripts:
            conv = engine.start()
            for op, arg in script:
                if screened:
                    engine.screen(conv, arg)
                getattr(engine, op)(conv, arg)
            answers += len(script)
    elapsed = time.perf_counter() - started
    mean_len = statistics.mean(len(s) for s in scripts)
    return elapsed / answers * 1e6, answers, mean_len


#: What people type at a skin clinic's questions: short answers, a sentence, and a long free text
#: (the 500 characters a text question takes), in both languages.
TYPED = [
    "34",
    "none",
    "Keine Allergien",
    "I would like smoother skin before my wedding in June, and smaller pores on my nose",
    "Ich möchte feinere Poren und weniger Schwitzen unter den Achseln, am liebsten vor dem Sommer",
    ("I had a laser treatment last spring and some redness afterwards, nothing worrying. " * 6)[:500],
]


def bench_screen(engine: Engine) -> list[tuple[str, float]]:
    """The safety screen alone, per message, for each kind of message in ``TYPED``."""
    figures = []
    for text in TYPED:
        language = "de" if any(c in text for c in "öäüß") or text.startswith("Keine") else "en"
        rounds = 20_000
        started = time.perf_counter()
        for _ in range(rounds):
            engine.screen(language, text)
        figures.append((text, (time.perf_counter() - started) / rounds * 1e6))
    return figures


def bench_view(engine: Engine, rng: random.Random) -> float:
    script = scripted_intake(engine, rng)
    conv = engine.start()
    views = 0
    started = time.perf_counter()
    for op, arg in script:
        for _ in range(20):
            engine.view(conv)
            views += 1
        getattr(engine, op)(conv, arg)
    return (time.perf_counter() - started) / views * 1e6


def bench_idle_memory(engine: Engine, rng: random.Random, count: int = 10_000) -> tuple[float, float]:
    """Conversations stopped at random points, saved as JSON, then 10,000 restored and held."""
    saved: list[str] = []
    scripts = [scripted_intake(engine, rng) for _ in range(50)]
    for i in range(count):
        script = scripts[i % len(scripts)]
        conv = engine.start()
        for op, arg in script[: rng.randrange(1, len(script))]:
            getattr(engine, op)(conv, arg)
        saved.append(json.dumps(conv.to_dict()))
    mean_json = statistics.mean(len(s) for s in saved)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    restored = [Conversation.from_dict(json.loads(s)) for s in saved]
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(restored) == count
    return (after - before) / count, mean_json


def bench_load() -> tuple[float, float]:
    times_check, times_engine = [], []
    for _ in range(20):
        started = time.perf_counter()
        flow = load_checked(FLOW)
        checked = time.perf_counter()
        Engine(flow)
        times_check.append(checked - started)
        times_engine.append(time.perf_counter() - checked)
    return statistics.median(times_check) * 1e3, statistics.median(times_engine) * 1e3


def main() -> None:
    rng = random.Random(7)
    load_ms, machine_ms = bench_load()
    engine = Engine(load_checked(FLOW))
    per_answer, answers, mean_len = bench_answers(engine, rng)
    per_screened, _, _ = bench_answers(engine, random.Random(7), screened=True)
    screen_costs = bench_screen(engine)
    per_view = bench_view(engine, rng)
    per_idle, mean_json = bench_idle_memory(engine, rng)
    print(
        f"engine figures for {FLOW.relative_to(ROOT)} ({len(engine.flow.steps)} steps, "
        f"{len(engine.transitions)} transitions), Python {sys.version.split()[0]}"
    )
    print(
        f"  answer (parse + validate + flags + transition): {per_answer:6.1f} µs per answer "
        f"over {answers} answers, {mean_len:.0f} per intake   (aim < 50 µs)"
    )
    print(
        f"  answer with the safety screen first:            {per_screened:6.1f} µs per answer "
        f"(every answer screened, taps too)   (aim < 50 µs)"
    )
    for text, cost in screen_costs:
        print(f"  safety screen, {len(text):3d}-character message:      {cost:6.1f} µs")
    print(f"  view (what to show next):                       {per_view:6.1f} µs per view")
    print(
        f"  idle conversation, 10,000 restored:             {per_idle:6.0f} bytes each "
        f"(JSON {mean_json:.0f} bytes)   (aim < 2 KB)"
    )
    print(f"  load + check the flow:                          {load_ms:6.1f} ms   (aim < 100 ms)")
    print(f"  build its state machine:                        {machine_ms:6.1f} ms")


if __name__ == "__main__":
    main()
