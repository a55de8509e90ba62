"""The format guide's complete example is a valid flow, so the documentation cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

from bot.engine import Engine
from bot.flow import parse_checked

GUIDE = Path(__file__).resolve().parent.parent / "flows" / "README.md"


def test_the_guide_example_is_a_valid_flow_that_runs() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    complete = [b for b in blocks if b.startswith("# yaml-language-server") and "steps:" in b]
    assert len(complete) == 1
    engine = Engine(parse_checked(complete[0], "flows/README.md"))
    conv = engine.start("de")
    for option in ("agree", "yes"):
        assert engine.choose(conv, option).accepted
    assert engine.reply(conv, "Poren").accepted
    assert engine.choose(conv, "confirm").finished
    ending = engine.view(conv).ending
    assert ending.id == "points" and ending.topics == ("Schwangerschaft oder Stillzeit",)
    assert ending.recap == ("Sie möchten verbessern: Poren.",)  # the recap, the answer in her words
    # the ending's name for staff, and the first words of the text where an ending has none
    assert engine.outcome_topic("points", "de") == "Punkte für die Beratung"
    assert engine.outcome_topic("points") == "Points to discuss"
    assert engine.outcome_topic("routine", "de") == "Danke."
