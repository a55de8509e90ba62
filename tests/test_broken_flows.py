"""A catalogue of broken flows: each reports its mistakes at the exact line and column.

Every file in ``broken_flows/`` is the format guide's small example with one deliberate mistake,
and starts with the problems the checker must print, one ``# expect: LINE:COLUMN: MESSAGE`` each.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.flow import FlowError, load_checked

HERE = Path(__file__).resolve().parent
CATALOGUE = sorted((HERE / "broken_flows").glob("*.yaml"))


def expectations(path: Path) -> list[str]:
    return [line.removeprefix("# expect: ") for line in path.read_text().splitlines() if line.startswith("# expect: ")]


def test_the_catalogue_is_large_enough() -> None:
    assert len(CATALOGUE) >= 15


@pytest.mark.parametrize("path", CATALOGUE, ids=[p.stem for p in CATALOGUE])
def test_each_broken_flow_reports_exactly_its_problems(path: Path) -> None:
    # The expectation lines sit above the flow, so the positions below count them too.
    with pytest.raises(FlowError) as caught:
        load_checked(path)
    problems = caught.value.problems
    assert [f"{p.line}:{p.column}: {p.message}" for p in problems] == expectations(path)
    assert all(p.file == str(path) for p in problems)


def test_validate_prints_file_line_column_and_exits_1() -> None:
    paths = [str(HERE / "broken_flows" / name) for name in ("unknown_key_typo.yaml", "condition_later_question.yaml")]
    result = subprocess.run(
        [sys.executable, "-m", "bot", "validate", *paths], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"{paths[0]}:{expectations(Path(paths[0]))[0]}",
        f"{paths[1]}:{expectations(Path(paths[1]))[0]}",
    ]
