"""Time to make intake PDFs (``bot/staff/pdf.py``): each one alone, the patient's copy
(``bot/pdf/patient_copy.py``) each alone, and a batch of 100 through the command line
(``python -m bot export --format pdf --out DIR``, a fresh process: start-up included).

The intakes are played through the real engine and store (``tests/support``'s in-process patient):
the routine intake of the default flow, half in German, every third with a flag, every fifth with a
long typed message in its transcript, in a SQLite file of its own.

Run: ``.venv/bin/python benchmarks/pdf_bench.py`` (``--intakes 100``, ``--repeat 3``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support.default_flow import DEFAULT_FLOW  # noqa: E402
from support.pdfs import play  # noqa: E402

from bot.channels.telegram.copies import Copies  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.flow import load_checked  # noqa: E402
from bot.staff.exports import Exporter  # noqa: E402
from bot.staff.i18n import StaffLanguages  # noqa: E402
from bot.staff.pdf import IntakePdf  # noqa: E402
from bot.staff.review import Review  # noqa: E402
from bot.store import Store  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intakes", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="batch runs (the median is reported)")
    args = parser.parse_args()
    engine = Engine(load_checked(DEFAULT_FLOW))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/pdf.db"
        store = Store.open(url)
        started = time.perf_counter()
        for chat_id in range(1, args.intakes + 1):
            lang = "de" if chat_id % 2 else "en"
            long = "Ein sehr langer Text über Größe und Form. " * 100 if chat_id % 5 == 0 else ""
            play(engine, store, chat_id, lang, flagged=chat_id % 3 == 0, first=long)
        print(f"played {args.intakes} intakes in {time.perf_counter() - started:.1f} s")

        review = Review(store)
        pdf = IntakePdf(engine, Exporter(engine))
        words = StaffLanguages(engine.flow.default_language).translations(engine.flow.default_language)
        times, sizes = [], []
        for intake_id in review.export_ids():
            begun = time.perf_counter()
            body = pdf.render(review.intake_view(intake_id), words)
            times.append(time.perf_counter() - begun)
            sizes.append(len(body))
        times.sort()
        print(
            f"one PDF (read + made, in process): median {statistics.median(times) * 1000:.0f} ms, "
            f"p95 {times[int(len(times) * 0.95) - 1] * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms; "
            f"size median {statistics.median(sizes) / 1024:.0f} KiB"
        )
        copies = Copies(store, engine)
        times = []
        for intake_id in review.export_ids():
            with store.transaction(read_only=True) as tx:
                chat_id = tx.intake(intake_id).chat_id
            begun = time.perf_counter()
            copies.make(chat_id, intake_id)
            times.append(time.perf_counter() - begun)
        times.sort()
        print(
            f"the patient's copy (read + made, as the outbox does): median {statistics.median(times) * 1000:.0f} ms, "
            f"p95 {times[int(len(times) * 0.95) - 1] * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms"
        )
        store.close()

        batches = []
        env = dict(os.environ, DATABASE_URL=url)
        for run in range(args.repeat):
            out = Path(tmp) / f"out{run}"
            begun = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "bot", "export", "--format", "pdf", "--out", str(out)],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
            batches.append(time.perf_counter() - begun)
            assert len(list(out.iterdir())) == args.intakes
        print(
            f"batch of {args.intakes} (python -m bot export --format pdf, fresh process): "
            f"median {statistics.median(batches):.2f} s over {args.repeat} runs"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
