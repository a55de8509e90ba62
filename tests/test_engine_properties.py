"""Property tests: any mix of valid and invalid answers, backs, restarts and changes.

Whatever a person does, the conversation stays consistent, ends (once finished) in exactly one
ending that recommends a consultation, any urgent flag leads to an urgent ending, and saving and
restoring the conversation at any point changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.edited_flows import edited, retyped_to_number, without_choice, without_step

from bot.engine import Engine
from bot.engine.conversation import Conversation
from bot.flow import model, wording
from bot.flow.booking import as_booking

INVALID_TEXTS = ["", "banana", "999999", "-5", "3.7", "1, 99", "x" * 5000, "🙂", "/weird"]
MAX_ACTIONS = 60


def valid_action(engine: Engine, conv: Conversation, data: st.DataObject | None) -> tuple[str, Any]:
    """An action that is always accepted at the current step (drawn when ``data`` is given)."""
    step = engine.step(conv)

    def pick(options: list) -> Any:
        return data.draw(st.sampled_from(options)) if data is not None else options[0]

    if isinstance(step, model.OutcomeStep):
        return ("reply", "hello")  # refused: the intake is finished
    if isinstance(step, model.InfoStep):
        return ("choose", "continue")
    if isinstance(step, model.SummaryStep):
        return ("choose", "confirm")
    if isinstance(step, model.ConsentStep):
        return ("choose", pick(["agree", "agree", "agree", "decline"]))
    if isinstance(step, model.MultiQuestion):
        plain = [c.id for c in step.choices if not c.exclusive]
        return ("reply", engine.view(conv).options[[o.id for o in engine.view(conv).options].index(pick(plain))].label)
    if isinstance(step, model.NumberQuestion):
        low = int(step.min) if step.min is not None else 0
        high = int(step.max) if step.max is not None else low + 100
        return ("reply", str(pick([low, high, (low + high) // 2]) if data is not None else (low + high) // 2))
    if isinstance(step, model.TextQuestion):
        return ("reply", pick(["fine", "it went well", "I hope for smoother skin"]))
    options = [o.id for o in engine.view(conv).options]
    return ("choose", pick(options))


def any_action(engine: Engine, conv: Conversation, data: st.DataObject) -> tuple[str, Any]:
    kind = data.draw(st.sampled_from(["valid"] * 6 + ["invalid", "back", "restart", "skip", "toggle", "change"]))
    if kind == "valid":
        return valid_action(engine, conv, data)
    if kind == "invalid":
        return ("reply", data.draw(st.sampled_from(INVALID_TEXTS)))
    if kind == "toggle":
        options = [o.id for o in engine.view(conv).options] or ["none"]
        return ("toggle", data.draw(st.sampled_from(options)))
    if kind == "change":
        answered = list(conv.answers) or ["nothing"]
        return ("change", data.draw(st.sampled_from(answered)))
    return (kind, None)


def apply(engine: Engine, conv: Conversation, action: tuple[str, Any]):
    name, arg = action
    if name == "reply":
        return engine.reply(conv, arg)
    if name == "choose":
        return engine.choose(conv, arg)
    if name == "toggle":
        return engine.toggle(conv, arg)
    if name == "change":
        return engine.change(conv, arg)
    if name == "back":
        return engine.back(conv)
    if name == "restart":
        return engine.restart(conv)
    if name == "skip":
        return engine.skip(conv)
    raise AssertionError(name)


def assert_consistent(engine: Engine, conv: Conversation) -> None:
    order = engine.order
    assert conv.state in engine.steps
    assert conv.path == sorted(conv.path, key=order.__getitem__), "path out of flow order"
    assert set(conv.answers) <= set(conv.path), "an answer without a completed step"
    # every completed step is still shown, given the answers before it
    for step_id in conv.path:
        shown = engine.shown[step_id]
        assert shown is None or shown(conv.answers, conv.flags), f"{step_id} completed but hidden"
    shown = engine.shown[conv.state]
    assert shown is None or shown(conv.answers, conv.flags), f"current step {conv.state} is hidden"
    expected_flags = [r.id for r in engine.flag_rules if r.predicate(conv.answers, ())]
    if not (engine.finished(conv) and conv.answers.get(engine.consent_id) == "decline"):
        assert conv.flags == expected_flags


def finish(engine: Engine, conv: Conversation) -> None:
    for _ in range(500):
        if engine.finished(conv):
            return
        turn = apply(engine, conv, valid_action(engine, conv, None))
        assert turn.accepted, f"a valid answer was refused at {conv.state}: {turn.error}"
    raise AssertionError("the flow did not end")


def assert_one_good_ending(engine: Engine, conv: Conversation) -> None:
    prompt = engine.view(conv)
    assert prompt.kind == "outcome" and prompt.ending is not None
    ending = prompt.ending
    # No booking button for someone under 18 or who declined consent; every other ending books.
    no_booking = ending.id in ("under_18_end", "consent_declined")
    assert ending.booking == (None if no_booking else as_booking(engine.flow.booking_link))
    assert wording.recommends_consultation(ending.consultation, conv.language) is not False
    urgent_raised = not engine.urgent_flags.isdisjoint(conv.flags)
    if urgent_raised:
        assert ending.urgent, f"urgent flags {conv.flags} but ending {ending.id}"
    if conv.answers.get(engine.consent_id) == "decline":
        assert conv.answers == {engine.consent_id: "decline"}


def run_property(engine: Engine, data: st.DataObject) -> None:
    lang = data.draw(st.sampled_from(engine.flow.languages))
    conv = engine.start(lang)
    shadow = engine.start(lang)  # never saved: restoring must make no difference
    for _ in range(data.draw(st.integers(0, MAX_ACTIONS))):
        if engine.finished(conv) and data.draw(st.booleans()):
            break
        action = any_action(engine, conv, data)
        turn = apply(engine, conv, action)
        shadow_turn = apply(engine, shadow, action)
        assert turn == shadow_turn
        if (
            turn.accepted
            and action[0] in ("reply", "choose", "skip")
            and not engine.urgent_flags.isdisjoint(conv.flags)
        ):
            assert engine.finished(conv) and engine.view(conv).ending.urgent, "a question followed an urgent flag"
        if data.draw(st.booleans()):
            conv = Conversation.from_dict(json.loads(json.dumps(conv.to_dict())))
        assert conv.to_dict() == shadow.to_dict()
        assert engine.view(conv) == engine.view(shadow)
        assert_consistent(engine, conv)
    finish(engine, conv)
    assert_consistent(engine, conv)
    assert_one_good_ending(engine, conv)


PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_any_sequence_through_the_default_flow(skin: Engine, data: st.DataObject) -> None:
    run_property(skin, data)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_any_sequence_through_every_answer_type(all_types: Engine, data: st.DataObject) -> None:
    run_property(all_types, data)


@pytest.mark.parametrize("flag", ["breathing", "self_harm"])
def test_every_urgent_flag_leads_to_an_urgent_ending(all_types: Engine, flag: str) -> None:
    conv = all_types.start()
    inputs = {"breathing": ["", "1", "40", "yes"], "self_harm": ["", "1", "40", "no", "1", "", "2", "end my life"]}
    for text in inputs[flag]:
        all_types.reply(conv, text)
    assert flag in conv.flags and all_types.view(conv).ending.urgent


def test_each_urgent_flag_of_the_default_flow_reaches_an_urgent_ending(skin: Engine) -> None:
    """Answer everything validly except the questions that raise one urgent flag."""
    for rule in skin.flag_rules:
        if rule.severity != "urgent":
            continue
        conv = skin.start()
        reached = False
        for _ in range(300):
            if skin.finished(conv):
                break
            step = skin.step(conv)
            raised = False
            if isinstance(step, model.QUESTION_TYPES):
                for action in _actions_for(skin, conv, step):
                    trial = Conversation.from_dict(conv.to_dict())
                    apply(skin, trial, action)
                    if rule.id in trial.flags:
                        apply(skin, conv, action)
                        raised = True
                        break
            if not raised:
                apply(skin, conv, not_ending_action(skin, conv))
            reached = reached or rule.id in conv.flags
        assert reached, f"no answers raise urgent flag {rule.id}"
        assert skin.finished(conv) and skin.view(conv).ending.urgent, rule.id


def not_ending_action(engine: Engine, conv: Conversation) -> tuple[str, Any]:
    """A valid action that does not end the intake early (unless nothing else is possible)."""
    first = valid_action(engine, conv, None)
    if isinstance(engine.step(conv), model.SummaryStep):
        return first
    candidates = [first] + [("choose", o.id) for o in engine.view(conv).options if o.id != "decline"]
    for action in candidates:
        trial = Conversation.from_dict(conv.to_dict())
        if apply(engine, trial, action).accepted and not engine.finished(trial):
            return action
    return first


def _actions_for(engine: Engine, conv: Conversation, step: Any) -> list[tuple[str, Any]]:
    if isinstance(step, model.TextQuestion):
        words = ["I want to hurt myself", "ich will mich umbringen", "suicide", "kill myself"]
        return [("reply", w) for w in words]
    if isinstance(step, model.MultiQuestion):
        return [("reply", o.label) for o in engine.view(conv).options]
    if isinstance(step, model.NumberQuestion):
        return [("reply", str(int(step.min or 0))), ("reply", str(int(step.max or 100)))]
    return [("choose", o.id) for o in engine.view(conv).options]


def reach_summary(engine: Engine, conv: Conversation, data: st.DataObject) -> bool:
    """Answer validly (drawn answers, consent agreed) until the summary; False if the flow ended first."""
    for _ in range(300):
        step = engine.step(conv)
        if isinstance(step, model.SummaryStep):
            return True
        if engine.finished(conv):
            return False
        action = valid_action(engine, conv, data)
        if isinstance(step, model.ConsentStep):
            action = ("choose", "agree")
        assert apply(engine, conv, action).accepted
    raise AssertionError("no summary reached")


@PROPERTY_SETTINGS
@given(data=st.data())
def test_changing_answers_from_the_summary_stays_consistent(all_types: Engine, data: st.DataObject) -> None:
    conv = all_types.start()
    if not reach_summary(all_types, conv, data):
        return
    for _ in range(data.draw(st.integers(1, 4))):
        answered = [s for s in conv.path if s in conv.answers and s != all_types.consent_id]
        assert all_types.change(conv, data.draw(st.sampled_from(answered))).accepted
        if not reach_summary(all_types, conv, data):
            break
        assert_consistent(all_types, conv)
    finish(all_types, conv)
    assert_consistent(all_types, conv)
    assert_one_good_ending(all_types, conv)


# --------------------------------------------------------------------------- the flow edited under a conversation

EDITS = {
    "the skin type question taken out": [without_step("skin_type")],
    "the contact detail question taken out": [without_step("contact_detail")],
    "the under-18 ending taken out": [without_step("under_18_end")],
    "the event question retyped to a number": [retyped_to_number("event_timing")],
    "choices removed": [without_choice("expectation", "subtle"), without_choice("skin_concerns", "large_pores")],
}


@pytest.fixture(scope="module")
def edited_flows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Engine]:
    return {name: edited(tmp_path_factory.mktemp("edited"), *edits) for name, edits in EDITS.items()}


@PROPERTY_SETTINGS
@given(data=st.data())
def test_any_conversation_goes_on_soundly_on_an_edited_flow(
    skin: Engine, edited_flows: dict[str, Engine], data: st.DataObject
) -> None:
    """Wherever a person is, with whatever answers, a restart on an edited flow neither raises nor
    leaves them stuck: the conversation fits the new flow, and valid answers reach a good ending."""
    conv = skin.start(data.draw(st.sampled_from(skin.flow.languages)))
    for _ in range(data.draw(st.integers(0, MAX_ACTIONS))):
        apply(skin, conv, any_action(skin, conv, data))
    engine = edited_flows[data.draw(st.sampled_from(sorted(edited_flows)))]
    ended = skin.finished(conv)
    conv = Conversation.from_dict(json.loads(json.dumps(conv.to_dict())))  # as the store gives it back
    engine.recover(conv, ended=ended)
    assert engine.recover(conv, ended=ended) is False, "a second recovery changed something"
    if ended and conv.state not in engine.steps:
        return  # an ending the flow lost: it stands, and nothing is asked any more
    assert_consistent(engine, conv)
    finish(engine, conv)
    assert_one_good_ending(engine, conv)
