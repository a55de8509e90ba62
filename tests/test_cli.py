"""The command line as a clinic author uses it: validate, schema, chat (piped), diagram.

Each runs `bot.cli.main` in this process (the `cli` fixture), but one: `python -m bot` itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from bot.flow.schema import flow_schema

ROOT = Path(__file__).resolve().parent.parent
ALL_TYPES = "tests/flows/all_types.yaml"


@pytest.mark.e2e
def test_python_dash_m_bot_runs_the_command_line() -> None:
    """The one test of ``python -m bot`` as its own process; every other runs ``bot.cli.main`` in this one."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "validate", "flows/skin_botox.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("flows/skin_botox.yaml: ok: skin_botox v") and result.stderr == ""


def test_validate_prints_one_summary_line_per_valid_flow(cli) -> None:
    result = cli("validate", "flows/skin_botox.yaml", ALL_TYPES)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[1] == (f"{ALL_TYPES}: ok: all_types v3, 19 steps, 9 questions, 6 endings, 5 flags, languages en")
    assert lines[0].startswith("flows/skin_botox.yaml: ok: skin_botox v") and "languages en, de" in lines[0]


def test_validate_reports_every_problem_and_exits_1(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = (ROOT / ALL_TYPES).read_text().replace("    ask: How old are you?", "    aks: How old are you?")
    bad.write_text(text.replace("max_length: 40", "max_length: forty"))
    result = cli("validate", str(bad), ALL_TYPES)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"{bad}:28:5: unknown key 'aks' (did you mean 'ask'?)",
        f"{bad}:87:17: expected a whole number",
        f"{ALL_TYPES}: ok: all_types v3, 19 steps, 9 questions, 6 endings, 5 flags, languages en",
    ]


def test_validate_a_missing_file_and_a_binary_file(cli, tmp_path: Path) -> None:
    binary = tmp_path / "flow.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    result = cli("validate", "nope.yaml", str(binary))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "nope.yaml:1:1: file not found"
    assert lines[1].startswith(f"{binary}:1:1: cannot read the file")


def test_schema_command_matches_the_published_copy(cli) -> None:
    result = cli("schema")
    assert result.returncode == 0
    printed = json.loads(result.stdout)
    published = json.loads((ROOT / "flows" / "schema.json").read_text())
    assert printed == published == flow_schema(), "run: python -m bot schema > flows/schema.json"


def test_the_schema_accepts_the_shipped_flows_and_rejects_a_typo() -> None:
    schema = flow_schema()
    validator = jsonschema.Draft202012Validator(schema)
    for path in ("flows/skin_botox.yaml", ALL_TYPES):
        data = yaml.safe_load((ROOT / path).read_text())
        errors = list(validator.iter_errors(data))
        assert errors == [], (path, errors[:3])
    data = yaml.safe_load((ROOT / ALL_TYPES).read_text())
    data["steps"][3]["aks"] = data["steps"][3].pop("ask")
    assert list(validator.iter_errors(data)), "the schema must refuse unknown keys"


def test_chat_with_piped_answers_reaches_the_ending_and_exits_0(cli) -> None:
    answers = "\n1\n40\nno\n1,2\n\nNever\n\n\n"
    result = cli("chat", "--flow", ALL_TYPES, stdin=answers)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Welcome to Test Clinic." in out
    assert "  1. I agree" in out and "  2. No thanks" in out
    assert out.rstrip().endswith("Book a consultation: https://clinic.test/book")
    assert "The next step is a dermatologist consultation." in out
    assert "Your age: 40 years." in out and "Weight given" not in out  # the recap, as far as answered


def test_chat_commands_back_restart_quit(cli) -> None:
    answers = "\n1\n40\n/back\n41\n/restart\n\n2\n"
    result = cli("chat", "--flow", ALL_TYPES, stdin=answers)
    assert result.returncode == 0
    assert result.stdout.count("Welcome to Test Clinic.") == 2
    assert "[Your answer: 40 years]" in result.stdout
    assert "Nothing was stored." in result.stdout
    result = cli("chat", "--flow", ALL_TYPES, stdin="\n/quit\n")
    assert result.returncode == 0 and "Goodbye." in result.stdout


def test_chat_shows_corrections_and_help_after_repeated_mistakes(cli) -> None:
    result = cli("chat", "--flow", ALL_TYPES, stdin="\nmaybe\nperhaps\n1\n")
    assert "! Please choose one of the options." in result.stdout
    assert "You can tap a button, or type the number or the words of an option:" in result.stdout


def test_chat_input_ending_early_exits_1(cli) -> None:
    result = cli("chat", "--flow", ALL_TYPES, stdin="\n1\n")
    assert result.returncode == 1
    assert "input ended before the questionnaire was finished" in result.stdout


def test_chat_in_german_on_the_default_flow(cli) -> None:
    result = cli("chat", "--lang", "de", stdin="/quit\n")
    assert result.returncode == 0
    assert "Weiter" in result.stdout or "Ich stimme zu" in result.stdout


def test_chat_refuses_an_unknown_language_and_a_broken_flow(cli, tmp_path: Path) -> None:
    result = cli("chat", "--lang", "xx", stdin="")
    assert result.returncode == 2 and "not in this flow" in result.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: [unclosed\n")
    result = cli("chat", "--flow", str(broken), stdin="")
    assert result.returncode == 1
    assert result.stderr.startswith(f"{broken}:") and "Traceback" not in result.stderr


def test_diagram_is_mermaid_with_conditions_and_endings(cli) -> None:
    result = cli("diagram", ALL_TYPES)
    assert result.returncode == 0
    out = result.stdout
    assert "stateDiagram-v2" in out
    assert "consent --> declined: consent = decline" in out
    assert "concerns --> sweat_scale: concerns has sweat" in out
    assert "age --> minor: age < 18" in out  # operators as they are
    assert "breathing_now --> urgent: urgent - any urgent flag" in out  # an urgent answer ends the questions
    assert "  welcome --> consent\n" in out  # always: no label
    assert 'state "urgent (ending, urgent)" as urgent' in out
    assert "routine --> [*]" in out
    assert "Class welcome s_default" in out  # no step drawn as the current one


def test_the_diagram_leaves_out_ways_the_engine_never_takes(skin) -> None:
    """From skin_concerns the engine tries sweat_areas, sweat_since, sweat_pattern and
    sweat_severity in order, all shown on the same condition: only the first is ever taken."""
    from bot.diagram import mermaid

    out = mermaid(skin)
    assert "skin_concerns --> sweat_areas: skin_concerns has sweating" in out
    assert "skin_concerns --> sweat_since" not in out and "skin_concerns --> sweat_severity" not in out
    assert "sweat_areas --> sweat_since: skin_concerns has sweating" in out  # the next in line
    assert out.count(" --> ") < 100  # 39 steps' ways, where the machine has 190 transitions
    assert len(skin.transitions) > 150


def test_the_diagram_of_one_section_shows_its_steps_and_the_ways_in_and_out(skin) -> None:
    from bot.diagram import mermaid

    out = mermaid(skin, "skin")
    assert 'state "Q6 line_areas (multi)" as line_areas' in out  # numbered as on the questionnaire page
    assert 'state "Q4 allergy_signs_now (in Safety check)" as allergy_signs_now' in out  # the way in
    assert 'state "Q13 pregnancy (in Health)" as pregnancy' in out  # the way out
    assert "toxin_last_time" not in out and "routine" not in out  # nothing further away
    assert "class allergy_signs_now,pregnancy outside" in out and "[*]" not in out
    endings = mermaid(skin, "_end")
    assert "routine --> [*]" in endings and "review_answers --> points_to_discuss: any high flag" in endings


def test_errors_a_person_can_cause_are_one_tree_with_their_exit_codes(capsys, monkeypatch, tmp_path: Path) -> None:
    """Each kind shows itself and carries its exit status; main() has no isinstance ladder."""
    from bot.channels.telegram.channel import StartupError
    from bot.cli import main
    from bot.config import SettingsError
    from bot.errors import UsageError, UserError
    from bot.flow import FlowError
    from bot.staff.accounts import AccountError
    from bot.store import StoreError

    for kind in (SettingsError, FlowError, StoreError, AccountError, StartupError, UsageError):
        assert issubclass(kind, UserError), kind
    assert (SettingsError.exit_code, UsageError.exit_code, StoreError.exit_code) == (2, 2, 1)

    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("DATABASE_URL", "postgresql://127.0.0.1:1/none")
    assert main(["staff", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cannot open the database") and "Traceback" not in err and err.count("\n") == 1
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    assert main(["purge"]) == 2
    assert "LOG_LEVEL='LOUD'" in capsys.readouterr().err
