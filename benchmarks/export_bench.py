"""Time and peak memory of each export format (``python -m bot export``) over 100,000 intakes.

Issue 11: exports were built whole in memory (1.9 GB for CSV, 6.8 GB for JSON, 9.1 GB for FHIR
when everything was exported). They now stream a batch of intakes at a time (``Exporter.chunks``).
This measures, for each format, one ``python -m bot export --format F --out FILE`` in a fresh
process of its own, one after another (never two at once: each one's peak memory is its own):

- the wall time, from starting the process until it has exited;
- its peak resident memory (``ru_maxrss`` of that child, from ``os.wait4`` in a small launcher
  process: a child of this big one would count this one's pages as its own);
- the size of what it wrote;
- how many intakes the output holds (CSV rows, JSON array items, FHIR QuestionnaireResponses) and
  how many distinct ids, against the intakes in the database: an export that stopped short, or
  wrote one twice, shows here. The output is read a megabyte at a time (``JsonStream``), never
  loaded whole: a FHIR export of 100,000 intakes is over a gigabyte.

The database: ``benchmarks/staff_bench.py``'s (a few dozen intakes done by the real channel and
engine, copied ``--intakes`` times), built once and kept in ``--cache`` (``/tmp/export-bench``); each
run exports from a copy of it. ``--python`` and ``--tree`` run the exports with another checkout's
code and interpreter (the code before streaming, say) on the same data; the database and the
counting stay this checkout's.

Run: ``.venv/bin/python benchmarks/export_bench.py`` (``make bench-export``; ``--help`` for the
options; ``--intakes 2000`` for a quick look).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent

FORMATS = ("csv", "json", "fhir")
CHUNK = 1 << 20  # characters read at a time when counting an output


# --- the database -------------------------------------------------------------------------------


def database(cache: Path, count: int, seed: int, fresh: bool) -> Path:
    """The cached SQLite file of ``count`` copied intakes (built now if it is not there yet)."""
    path = cache / f"intakes-{count}-seed{seed}.db"
    if path.exists() and not fresh:
        print(f"  database: {path} (cached; --fresh builds it again)", flush=True)
        return path
    cache.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")  # renamed once complete: a build cut short is never reused
    for leftover in (building, Path(f"{building}-wal"), Path(f"{building}-shm")):
        leftover.unlink(missing_ok=True)
    # In a process of its own (see _build), which prints what it made.
    built = subprocess.run(
        [sys.executable, __file__, "--build", str(building), str(count), str(seed)],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    made = built.stdout.strip().splitlines()[-1]
    _checkpoint(building)
    building.rename(path)
    print(f"  database: {path}: {made}", flush=True)
    return path


async def _build(path: Path, count: int, seed: int) -> str:
    # Imported here, in the process that builds the database (--build): the bot, Telegram's
    # library and a 100,000-row insert would otherwise make this process big, and every process
    # it starts would report that size as its own peak (see export()).
    sys.path.insert(0, str(ROOT))
    from telegram.warnings import PTBUserWarning

    from benchmarks.staff_bench import populate, started

    warnings.filterwarnings("ignore", category=PTBUserWarning)
    async with started(f"sqlite:///{path}") as bench:
        return await populate(bench, count, seed)


def _checkpoint(path: Path) -> None:
    """Everything in the main file (WAL folded in), so that the file alone is the database."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def copy_database(source: Path, target: Path) -> int:
    """A consistent copy (SQLite's backup API); the number of intakes in it."""
    target.unlink(missing_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
        (intakes,) = dst.execute("SELECT count(*) FROM intakes").fetchone()
    src.close()
    dst.close()
    return intakes


# --- one export ---------------------------------------------------------------------------------


@dataclass
class Result:
    fmt: str
    seconds: float
    peak_mb: float
    size_mb: float
    found: int  # intakes in the output
    distinct: int  # distinct ids among them
    expected: int  # intakes in the database
    failure: str = ""

    def row(self) -> str:
        if self.failure:
            return f"| {self.fmt} | {self.seconds:.1f} s | {self.peak_mb:,.0f} MB | failed: {self.failure} | |"
        whole = "all, each once" if self.whole else f"NOT ALL: {self.distinct:,} distinct"
        return (
            f"| {self.fmt} | {self.seconds:.1f} s | {self.peak_mb:,.0f} MB | {self.size_mb:,.1f} MB "
            f"| {self.found:,} of {self.expected:,} ({whole}) |"
        )

    @property
    def whole(self) -> bool:
        return not self.failure and self.found == self.distinct == self.expected


def export(python: str, tree: Path, db: Path, fmt: str, out: Path, limit_gb: float, since: str | None) -> Result:
    """``python -m bot export`` in a process of its own: its wall time and peak memory, and the output's count."""
    out.unlink(missing_ok=True)
    command = [python, "-m", "bot", "export", "--format", fmt, "--out", str(out)]
    if since:
        command += ["--since", since]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": f"sqlite:///{db}",
        "FLOW_PATH": str(tree / "flows" / "skin_botox.yaml"),
    }
    with open(out.with_suffix(".stderr"), "w+") as err:
        # Started by a small launcher process (--launch), not from here: Linux keeps a process's
        # peak RSS across exec, and a child forked from this process starts with all of this
        # one's pages counted as its own (with the database build or an output's ids in memory,
        # every export would report this process's size). The launcher is a few MB.
        report = subprocess.run(
            [sys.executable, __file__, "--launch", str(int(limit_gb * 2**30)), "--", *command],
            cwd=tree,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            check=True,
        )
        err.seek(0)
        stderr = err.read()
    seconds, peak_kb, returncode = json.loads(report.stdout)
    peak_mb = peak_kb / 1024
    expected = -1
    if returncode != 0:
        last = stderr.strip().splitlines()[-1:] or [f"exit status {returncode}"]
        return Result(fmt, seconds, peak_mb, 0, 0, 0, expected, f"{last[0][:100]} (exit {returncode})")
    try:
        found, ids = count(fmt, out)
    except (ValueError, KeyError, IndexError) as error:  # cut short, or not the shape an export has
        return Result(fmt, seconds, peak_mb, 0, 0, 0, expected, f"the output does not read back: {error}"[:140])
    return Result(fmt, seconds, peak_mb, out.stat().st_size / 1e6, found, len(ids), expected)


def launch(limit: int, command: list[str]) -> None:
    """(--launch) Run ``command`` under an address-space limit; print its wall time, its peak RSS
    (KiB) and its exit status as JSON. Its output goes to this process's standard error."""
    # The machine is shared: an export that wants more than the limit fails (MemoryError)
    # instead of pushing other work into the OOM killer. Address space, not RSS, is what can be
    # capped; it runs a little above RSS. Set here, it holds for the child.
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    began = time.perf_counter()
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr)
    # wait4, not wait: this child's own resource usage (RUSAGE_CHILDREN is the largest of every
    # child so far). ru_maxrss is in KiB on Linux.
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - began
    child.returncode = os.waitstatus_to_exitcode(status)
    print(json.dumps([seconds, usage.ru_maxrss, child.returncode]))


# --- counting what was written, in constant memory ----------------------------------------------


def count(fmt: str, path: Path) -> tuple[int, set[Any]]:
    """How many intakes the export holds, and their ids."""
    ids: set[Any] = set()
    found = 0
    with open(path, encoding="utf-8", newline="") as file:
        if fmt == "csv":
            rows = csv.reader(file)  # a quoted cell may hold line breaks: rows, not lines
            if next(rows)[0] != "id":
                raise ValueError("the CSV export has no header row")
            for row in rows:
                found += 1
                ids.add(row[0])
        elif fmt == "json":
            stream = JsonStream(file)
            for item in stream.items():
                found += 1
                ids.add(item["id"])
            stream.end()
        else:
            stream = JsonStream(file)
            for key in stream.members():
                if key != "entry":
                    stream.value()
                    continue
                for entry in stream.items():
                    if entry["resource"]["resourceType"] == "QuestionnaireResponse":
                        found += 1
                        ids.add(entry["resource"]["id"])
            stream.end()
    return found, ids


class JsonStream:
    """A JSON text read a megabyte at a time: the items of an array (or the members of an object)
    decoded one by one with ``json.JSONDecoder.raw_decode``, so a 1 GB export is checked in a few MB.
    Every item is decoded in full; a text that is not JSON, or ends early, raises ValueError."""

    def __init__(self, file: IO[str]):
        self.file = file
        self.text = ""
        self.pos = 0
        self.eof = False
        self.decoder = json.JSONDecoder()

    def _more(self) -> bool:
        if self.eof:
            return False
        chunk = self.file.read(CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.text = self.text[self.pos :] + chunk
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next character that is not white space; "" at the end of the text."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self._more():
                return ""

    def expect(self, char: str) -> None:
        found = self.peek()
        if found != char:
            raise ValueError(f"expected {char!r}, found {found!r}")
        self.pos += 1

    def value(self) -> Any:
        """The next whole value (an item: a few kilobytes)."""
        self.peek()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.text, self.pos)
            except json.JSONDecodeError:
                if self._more():  # cut by the end of the chunk: read on, decode again
                    continue
                raise
            if end == len(self.text) and self._more():  # a number might go on in the next chunk
                continue
            self.pos = end
            return value

    def _next(self, close: str) -> bool:
        """After an item: whether another follows (",") or this was the last (``close``)."""
        found = self.peek()
        self.pos += 1
        if found == close:
            return False
        if found != ",":
            raise ValueError(f"expected ',' or {close!r}, found {found!r}")
        return True

    def items(self) -> Iterator[Any]:
        """The items of the array that comes next, one at a time."""
        self.expect("[")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            yield self.value()
            if not self._next("]"):
                return

    def members(self) -> Iterator[str]:
        """The keys of the object that comes next; after each, the caller reads its value."""
        self.expect("{")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            key = self.value()
            self.expect(":")
            yield key
            if not self._next("}"):
                return

    def end(self) -> None:
        if self.peek() != "":
            raise ValueError("more text after the end of the JSON value")


# --- main ---------------------------------------------------------------------------------------


def main(args: argparse.Namespace) -> int:
    tree = Path(args.tree).resolve()
    python = args.python
    source = database(Path(args.cache), args.intakes, args.seed, args.fresh)
    work = Path(args.cache) / f"run-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        db = work / "intakes.db"
        expected = copy_database(source, db)
        code = "this checkout" if tree == ROOT else str(tree)
        print(
            f"python -m bot export, one format at a time, each in a fresh process: {code} ({python}), "
            f"{expected:,} intakes in a copy of the database",
            flush=True,
        )
        print("| format | wall time | peak memory (RSS) | output | intakes in the output |")
        print("|---|---:|---:|---:|---|")
        if args.baseline:
            # Nothing to export: what the process costs by itself (Python, the libraries, the flow).
            empty = export(python, tree, db, "csv", work / "empty.csv", args.limit_gb, "2999-01-01")
            empty.fmt, empty.expected = "(none: imports only)", 0
            print(empty.row(), flush=True)
        incomplete = 0
        for fmt in args.formats:
            result = export(python, tree, db, fmt, work / f"export.{fmt}", args.limit_gb, None)
            result.expected = expected
            print(result.row(), flush=True)
            incomplete += not result.whole
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if incomplete else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intakes", type=int, default=100_000, help="copied intakes (default 100000)")
    parser.add_argument("--seed", type=int, default=1, help="which copies (default 1)")
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS), help="default: all three")
    parser.add_argument("--cache", default="/tmp/export-bench", help="where the databases are kept")
    parser.add_argument("--fresh", action="store_true", help="build the database again even if it is cached")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs the exports")
    parser.add_argument("--tree", default=str(ROOT), help="the checkout whose code exports (default: this one)")
    parser.add_argument("--limit-gb", type=float, default=12.0, help="address space allowed per export (default 12)")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false", help="skip the empty export")
    parser.add_argument("--keep", action="store_true", help="keep the copy of the database and the outputs")
    return parser.parse_args()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--launch"]:  # the small process that starts one export
        launch(int(sys.argv[2]), sys.argv[4:])
    elif sys.argv[1:2] == ["--build"]:  # the process that builds the database
        print(asyncio.run(_build(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))))
    else:
        sys.exit(main(parse_args()))
