"""A catalogue of broken flows: each reports its mistakes at the exact line and column.

Every file in ``broken_flows/`` is the format guide's small example with one deliberate mistake,
and starts with the problems the checker must print, one ``# expect: LINE:COLUMN: MESSAGE`` each,
in the order ``python -m bot validate`` prints them. The expectation lines sit above the flow, so
the line numbers count them too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.flow import FlowError, load_checked

HERE = Path(__file__).resolve().parent
CATALOGUE = sorted((HERE / "broken_flows").glob("*.yaml"))
EXPECT = "# expect: "


def expectations(path: Path) -> list[str]:
    return [
        line.removeprefix(EXPECT) for line in path.read_text(encoding="utf-8").splitlines() if line.startswith(EXPECT)
    ]


def test_the_catalogue_is_large_enough() -> None:
    assert len(CATALOGUE) >= 20


@pytest.mark.parametrize("path", CATALOGUE, ids=[p.name for p in CATALOGUE])
def test_each_file_states_its_expectations_first(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    count = len(expectations(path))
    assert count >= 1
    assert all(line.startswith(EXPECT) for line in lines[:count])


@pytest.mark.parametrize("path", CATALOGUE, ids=[p.name for p in CATALOGUE])
def test_each_broken_flow_reports_exactly_its_problems(path: Path) -> None:
    with pytest.raises(FlowError) as caught:
        load_checked(path)
    problems = caught.value.problems
    assert [f"{p.line}:{p.column}: {p.message}" for p in problems] == expectations(path)
    assert all(p.file == str(path) for p in problems)


def test_validate_prints_file_line_column_and_exits_1(cli) -> None:
    paths = [HERE / "broken_flows" / name for name in ("unknown_key_typo.yaml", "condition_later_question.yaml")]
    result = cli("validate", *map(str, paths))
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 1
    expected = [f"{path}:{line}" for path in paths for line in expectations(path)]
    assert result.stdout.splitlines() == expected


def test_a_recursive_yaml_alias_is_refused_at_its_line_not_a_traceback() -> None:
    """``id: &a [*a]`` (12 bytes) ended in a RecursionError traceback."""
    from bot.flow import parse_checked

    with pytest.raises(FlowError) as caught:
        parse_checked("id: &a [*a]\n", "loop.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "loop.yaml:1:5: YAML aliases (&name ... *name) are not allowed in a flow: write this value out where it is used"
    ]


def test_a_billion_laughs_file_is_refused_at_once() -> None:
    """356 bytes of nested aliases took 26.6 s and 3.1 GB; now the first reuse is refused, and
    nothing is expanded."""
    from bot.flow import parse_checked

    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        name, below = chr(97 + level), chr(96 + level)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{below}"] * 9) + "]")
    with pytest.raises(FlowError) as caught:
        parse_checked("\n".join(lines) + "\n", "laughs.yaml")
    problems = caught.value.problems
    assert len(problems) == 9 and all("YAML aliases" in p.message for p in problems)
    assert [p.line for p in problems] == list(range(1, 10))


def test_every_control_character_is_reported_at_its_own_line_and_column() -> None:
    """The reader stops at the first one, with an offset (libyaml's counts bytes: 'é' is two), so
    the loader finds them itself: each at the line and column YAML's own marks would give, with
    YAML's line breaks (CR LF, CR, NEL) counted as the parser counts them."""
    from bot.flow import parse_checked

    text = "id: mini\r\ntitle: Café\x1b[0m\x07\rclinic: x\x85# über \x7f\nversion: '\x9b'\n"
    with pytest.raises(FlowError) as caught:
        parse_checked(text, "pasted.yaml")
    assert [(p.line, p.column, p.message.split(" is not allowed")[0]) for p in caught.value.problems] == [
        (2, 12, "YAML syntax: control character U+001B (ESC)"),
        (2, 16, "YAML syntax: control character U+0007 (BEL)"),
        (4, 8, "YAML syntax: control character U+007F (DEL)"),
        (5, 11, "YAML syntax: control character U+009B"),
    ]


def test_a_binary_file_gets_twenty_control_characters_and_a_count() -> None:
    from bot.flow import parse_checked

    with pytest.raises(FlowError) as caught:
        parse_checked("id: mini\n" + "\x00" * 500, "binary.yaml")
    problems = caught.value.problems
    assert len(problems) == 21
    assert [(p.line, p.column) for p in problems] == [(2, column) for column in range(1, 22)]
    assert problems[-1].message == "YAML syntax: 480 more control character(s) from here on"
