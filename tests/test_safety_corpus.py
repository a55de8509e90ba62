"""The default flow's safety screen against a corpus, per language: every crisis phrase caught,
every ambiguous one asked first, no everyday sentence (skin, gym, beauty sayings) touched.

The figures (caught / total, false positives / total) are printed with ``-s`` and kept in the
engineer's note; the test fails on any miss or any false positive.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.engine import Engine
from bot.flow import load_checked

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted((ROOT / "tests" / "safety_corpus").glob("*.yaml"))


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_checked(ROOT / "flows" / "skin_botox.yaml"))


def corpus(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_the_corpus_is_large_enough(path: Path) -> None:
    data = corpus(path)
    assert len(data["caught"]) + len(data["asked"]) >= 150
    assert len(data["clear"]) >= 80


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_every_crisis_phrase_is_caught_and_no_everyday_one(engine: Engine, path: Path) -> None:
    data = corpus(path)
    language = data["language"]

    def read(text: str) -> str:
        found = engine.screen(language, str(text))
        return "clear" if found is None else "asked" if found.ask_first else "caught"

    missed = [t for t in data["caught"] if read(t) != "caught"]
    not_asked = [t for t in data["asked"] if read(t) == "clear"]
    asked_not_caught = [t for t in data["asked"] if read(t) == "caught"]
    false_positives = [t for t in data["clear"] if read(t) != "clear"]
    positives = len(data["caught"]) + len(data["asked"])
    print(
        f"\n{language}: caught {positives - len(missed) - len(not_asked)}/{positives} "
        f"({len(data['caught'])} at once, {len(data['asked'])} asked first), "
        f"false positives {len(false_positives)}/{len(data['clear'])}"
    )
    assert missed == [], "crisis phrases not caught at once"
    assert not_asked == [], "ambiguous phrases neither caught nor asked"
    assert asked_not_caught == [], "ambiguous phrases caught without asking (move them to caught if right)"
    assert false_positives == [], "everyday phrases screened"
