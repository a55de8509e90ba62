"""The flow's rules written once (``bot.flow.graph``): the engine runs them, the checker reads them."""

from __future__ import annotations

import random

import pytest
from support.default_flow import with_typed_text_flag

from bot.engine import Engine
from bot.flow import model
from bot.flow.graph import TYPED_TEXT, Trigger, answer_values, leaves, option_ids, parts, reads


def test_the_machine_is_built_from_the_graphs_edges(skin: Engine, all_types: Engine) -> None:
    for engine in (skin, all_types):
        edges = [(str(e.trigger), e.source, e.dest) for e in engine.graph.edges()]
        assert [(t["trigger"], t["source"], t["dest"]) for t in engine.transitions] == edges
        assert {t for t, _, _ in edges} == {"next", "finish"}


def _random_input(engine: Engine, conv, rng: random.Random) -> None:
    step = engine.step(conv)
    if isinstance(step, model.MultiQuestion):
        for choice in rng.sample(step.choices, rng.randint(1, len(step.choices))):
            engine.toggle(conv, choice.id)
        engine.submit_selection(conv)
    elif isinstance(step, model.ConsentStep):
        engine.choose(conv, "agree" if rng.random() < 0.9 else "decline")
    elif option_ids(step):
        engine.choose(conv, rng.choice(option_ids(step)))
    elif isinstance(step, model.NumberQuestion):
        engine.reply(conv, str(rng.randint(int(step.min or 0), int(step.max or 120))))
    elif isinstance(step, model.TextQuestion):
        engine.reply(conv, rng.choice(["pores", "smoother skin", "I want to die", "nothing"]))
    else:
        engine.choose(conv, "confirm" if isinstance(step, model.SummaryStep) else "continue")


@pytest.mark.parametrize("seed", range(40))
def test_every_move_of_the_engine_is_the_one_the_graph_names(skin: Engine, all_types: Engine, seed: int) -> None:
    """What the checker asks (graph.target) is what the engine does, answer after answer."""
    rng = random.Random(seed)
    engine = skin if seed % 2 else all_types
    conv = engine.start(rng.choice(engine.flow.languages))
    for _ in range(80):
        if engine.finished(conv):
            break
        source = conv.state
        before = list(conv.path)
        _random_input(engine, conv, rng)
        if conv.state == source or source in before:
            continue  # refused, or a step answered again (then the engine skips ahead to where it was)
        urgent = not engine.urgent_flags.isdisjoint(conv.flags)
        trigger = Trigger.FINISH if urgent else Trigger.NEXT
        expected = engine.graph.target(source, trigger, conv.answers, conv.flags)
        assert expected is not None and conv.state == expected.id, (source, trigger, conv.answers)
    assert engine.finished(conv)


def test_condition_trees_are_walked_in_one_place() -> None:
    cond = model.AllCondition.model_validate(
        {
            "all": [
                {"question": "age", "at_least": 18},
                {"not": {"any": [{"question": "pregnant", "equals": "yes"}, {"typed_text_mentions": ["die"]}]}},
            ]
        }
    )
    assert len(parts(cond)) == 2
    assert [type(leaf).__name__ for leaf in leaves(cond)] == [
        "QuestionCondition",
        "QuestionCondition",
        "TypedTextCondition",
    ]
    assert reads(cond) == {"age", "pregnant", TYPED_TEXT}


def test_scale_points_are_numbers_when_stored_and_text_on_buttons(all_types: Engine) -> None:
    scale = next(s for s in all_types.flow.steps if isinstance(s, model.ScaleQuestion))
    assert answer_values(scale) == [p.value for p in scale.points]
    assert option_ids(scale) == [str(p.value) for p in scale.points]


def test_a_typed_text_flag_is_traced_to_the_answer_that_raised_it(skin: Engine) -> None:
    """The staff page shows the self-harm flag beside the typed answer that mentions it, not
    beside every text answer."""
    skin = with_typed_text_flag(skin, ["want to die"])
    assert skin.questions_raising("words") == set(skin.text_questions)
    answers = {"previous_details": "It was fine", "goal_text": "some days I want to die", "age_band": "from_18_to_64"}
    assert skin.flag_sources(answers, "words") == ["goal_text"]
    assert skin.flag_sources({"pregnancy": "yes"}, "pregnancy") == ["pregnancy"]
    assert skin.flag_sources({}, "no_such_flag") == []
