"""The engine's operations on a flow that uses every step kind and answer type."""

from __future__ import annotations

import json

import pytest

from bot.engine import Engine
from bot.engine.conversation import Conversation


def walk(engine: Engine, *inputs: str, lang: str | None = None) -> Conversation:
    """Start a conversation and type each input; every one must be accepted."""
    conv = engine.start(lang)
    for text in inputs:
        turn = engine.reply(conv, text)
        assert turn.accepted, f"{text!r} refused at {conv.state}: {turn.error}"
    return conv


TO_CONCERNS = ("", "I agree", "40", "no")


def test_a_whole_intake_reaches_the_routine_ending(all_types: Engine) -> None:
    conv = walk(all_types, *TO_CONCERNS, "1, 2", "", "Never", "", "")
    assert conv.state == "routine"
    assert conv.answers == {
        "consent": "agree",
        "age": 40,
        "breathing_now": "no",
        "concerns": ["lines", "pores"],
        "weight": None,
        "treated": "never",
        "goals": None,
    }
    assert conv.path == [
        "welcome",
        "consent",
        "age",
        "breathing_now",
        "concerns",
        "weight",
        "treated",
        "goals",
        "review",
    ]
    assert conv.flags == []
    ending = all_types.view(conv).ending
    assert ending is not None and ending.id == "routine" and not ending.urgent
    assert "consultation" in ending.consultation
    assert ending.booking_link == "https://clinic.test/book"


def test_consent_records_version_and_the_time_given(all_types: Engine) -> None:
    conv = walk(all_types, "")
    all_types.choose(conv, "agree", now="2026-11-24T10:00:00Z")
    assert conv.consent == {"version": "v7", "at": "2026-11-24T10:00:00Z"}


def test_declining_consent_ends_and_keeps_no_answers(all_types: Engine) -> None:
    conv = walk(all_types, "", "No thanks")
    assert conv.state == "declined"
    assert conv.answers == {"consent": "decline"}
    assert conv.consent is None
    assert all_types.finished(conv)


def test_under_18_ends_at_once(all_types: Engine) -> None:
    conv = walk(all_types, "", "1", "16")
    assert conv.state == "minor"
    assert set(conv.answers) == {"consent", "age"}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("abc", "Please type a number, for example 42."),
        ("12.5", "Please type a whole number, without decimals."),
        ("0", "Please type a number of at least 1."),
        ("121", "Please type a number no bigger than 120."),
        ("40 kilos", "Please type a number, for example 42."),
        ("9" * 5000, "Please type a number, for example 42."),
    ],
)
def test_an_invalid_number_does_not_advance(all_types: Engine, text: str, error: str) -> None:
    conv = walk(all_types, "", "1")
    before = conv.to_dict()
    turn = all_types.reply(conv, text)
    assert not turn.accepted and turn.error == error
    assert conv.state == "age" and conv.answers == before["answers"]


def test_a_number_may_carry_its_unit_and_a_decimal_comma(all_types: Engine) -> None:
    conv = walk(all_types, "", "1", "40 years", "no", "4", "1")
    assert conv.state == "weight"
    assert all_types.reply(conv, "72,5 kg").accepted
    assert conv.answers["weight"] == 72.5


def test_choices_accept_number_label_any_case_and_id(all_types: Engine) -> None:
    for typed in ("2", "once", "ONCE", " Once "):
        conv = walk(all_types, *TO_CONCERNS, "lines", "")
        assert all_types.reply(conv, typed).accepted
        assert conv.answers["treated"] == "once"
    conv = walk(all_types, *TO_CONCERNS, "lines", "")
    turn = all_types.reply(conv, "7")
    assert not turn.accepted and turn.error == "Please choose one of the options."


def test_multi_choice_rules(all_types: Engine) -> None:
    conv = walk(all_types, *TO_CONCERNS)
    assert all_types.reply(conv, "1, 5").error == "“None of these” cannot be combined with other options."
    assert all_types.reply(conv, "1,2,3,4").error == "Please choose at most 3."
    assert all_types.reply(conv, "1, banana").error == "Please choose one of the options."
    assert all_types.reply(conv, "").error == "Please choose at least 1."
    assert conv.state == "concerns" and "concerns" not in conv.answers
    assert all_types.reply(conv, "Oiliness; fine lines").accepted
    assert conv.answers["concerns"] == ["lines", "oil"]


def test_multi_choice_buttons_toggle_and_respect_exclusive_and_max(all_types: Engine) -> None:
    conv = walk(all_types, *TO_CONCERNS)
    e = all_types
    assert e.toggle(conv, "lines").accepted and e.toggle(conv, "pores").accepted
    assert conv.draft == ["lines", "pores"]
    assert e.toggle(conv, "none").accepted
    assert conv.draft == ["none"]  # the exclusive choice clears the others
    assert e.toggle(conv, "oil").accepted
    assert conv.draft == ["oil"]  # and a normal choice clears the exclusive one
    e.toggle(conv, "lines")
    e.toggle(conv, "sweat")
    turn = e.toggle(conv, "pores")
    assert not turn.accepted and turn.error == "Please choose at most 3."
    assert [o.id for o in e.view(conv).options if o.selected] == ["lines", "oil", "sweat"]
    assert e.toggle(conv, "banana").error == "Please choose one of the options."
    assert e.submit_selection(conv).accepted
    assert conv.answers["concerns"] == ["lines", "oil", "sweat"] and conv.state == "sweat_scale"


def test_text_length_and_reask(all_types: Engine) -> None:
    conv = walk(all_types, *TO_CONCERNS, "lines", "", "often")
    turn = all_types.reply(conv, "x" * 41)
    assert turn.error == "That is a little long: please keep it under 40 characters (yours has 41)."
    assert all_types.reply(conv, "   ").error == "Please describe it in under 40 characters."  # its own re-ask
    assert all_types.reply(conv, "  fine  ").accepted
    assert conv.answers["how_it_went"] == "fine"


def test_text_too_long_without_reask_says_the_limit(all_types: Engine) -> None:
    conv = walk(all_types, *TO_CONCERNS, "lines", "", "never")
    turn = all_types.reply(conv, "y" * 10_000)
    assert turn.error == "That is a little long: please keep it under 500 characters (yours has 10000)."
    assert conv.state == "goals"


def test_help_is_offered_after_repeated_invalid_answers(all_types: Engine) -> None:
    conv = walk(all_types, *TO_CONCERNS, "lines", "")
    assert not all_types.reply(conv, "maybe").help
    assert all_types.reply(conv, "perhaps").help
    assert all_types.reply(conv, "never").accepted and conv.invalid == 0


def test_skip_only_where_optional(all_types: Engine) -> None:
    conv = walk(all_types, *TO_CONCERNS)
    assert all_types.skip(conv).error == "This question needs an answer before we go on."
    conv = walk(all_types, *TO_CONCERNS, "lines")
    assert all_types.view(conv).can_skip
    assert all_types.choose(conv, "skip").accepted and conv.answers["weight"] is None


def test_skip_logic_shows_follow_ups_only_when_they_apply(all_types: Engine) -> None:
    conv = walk(all_types, *TO_CONCERNS, "sweating")
    assert conv.state == "sweat_scale"
    all_types.choose(conv, "2")
    assert conv.state == "weight"  # sweat_where needs a 3 or 4
    conv = walk(all_types, *TO_CONCERNS, "sweating", "4")
    assert conv.state == "sweat_where"


def test_not_and_all_conditions(all_types: Engine) -> None:
    conv = walk(all_types, "", "1", "70", "no", "oil", "", "never", "")
    assert conv.state == "extra"  # 65+ and neither lines nor pores
    conv = walk(all_types, "", "1", "70", "no", "lines", "", "never", "")
    assert conv.state == "review"


def test_back_keeps_the_earlier_answer_and_returns_to_the_same_place(all_types: Engine) -> None:
    conv = walk(all_types, *TO_CONCERNS, "lines", "")
    assert conv.state == "treated"
    assert all_types.back(conv).accepted and conv.state == "weight"
    assert all_types.back(conv).accepted and conv.state == "concerns"
    assert all_types.view(conv).current == "Your answer: Fine lines"
    assert all_types.reply(conv, "pores").accepted
    assert conv.state == "treated"  # weight was answered already and is still shown
    assert conv.answers["concerns"] == ["pores"] and conv.answers["weight"] is None


def test_back_at_the_start_says_so(all_types: Engine) -> None:
    conv = all_types.start()
    turn = all_types.back(conv)
    assert not turn.accepted and turn.error.startswith("This is the first step")


def test_changing_an_answer_drops_answers_to_steps_no_longer_shown(all_types: Engine) -> None:
    conv = walk(all_types, *TO_CONCERNS, "sweating", "4", "palms", "", "never", "")
    assert conv.state == "review"
    assert all_types.change(conv, "sweat_scale").accepted and conv.state == "sweat_scale"
    assert all_types.reply(conv, "1").accepted
    assert "sweat_where" not in conv.answers and "sweat_where" not in conv.path
    assert conv.state == "review"  # nothing new to ask: straight back to the summary
    assert "severe_sweat" not in conv.flags


def test_changing_an_answer_asks_newly_shown_questions_then_returns(all_types: Engine) -> None:
    conv = walk(all_types, *TO_CONCERNS, "lines", "", "never", "")
    assert all_types.change(conv, "concerns").accepted
    assert all_types.reply(conv, "sweating").accepted
    assert conv.state == "sweat_scale"
    all_types.reply(conv, "3")
    assert conv.state == "sweat_where"
    all_types.reply(conv, "1")
    assert conv.state == "review"
    assert [line.step_id for line in all_types.summary(conv)] == [
        "age",
        "breathing_now",
        "concerns",
        "sweat_scale",
        "sweat_where",
        "weight",
        "treated",
        "goals",
    ]


def test_summary_change_by_number_and_confirm(all_types: Engine) -> None:
    conv = walk(all_types, *TO_CONCERNS, "lines", "", "never", "")
    assert all_types.reply(conv, "1").accepted and conv.state == "age"
    all_types.reply(conv, "41")
    assert conv.state == "review" and conv.answers["age"] == 41
    assert not all_types.reply(conv, "what").accepted
    assert all_types.choose(conv, "confirm").finished


def test_change_only_from_the_summary_and_only_answered_steps(all_types: Engine) -> None:
    conv = walk(all_types, *TO_CONCERNS)
    assert not all_types.change(conv, "age").accepted
    conv = walk(all_types, *TO_CONCERNS, "lines", "", "never", "")
    assert not all_types.change(conv, "how_it_went").accepted


def test_an_urgent_flag_stops_the_questions_at_once(all_types: Engine) -> None:
    conv = walk(all_types, "", "1", "40")
    turn = all_types.reply(conv, "yes")
    assert turn.finished and turn.raised == ("breathing",)
    assert conv.state == "urgent"
    view = all_types.view(conv)
    assert view.ending.urgent and view.ending.topics == ("Trouble breathing or swallowing now",)


def test_self_harm_words_in_any_typed_text_lead_to_crisis_support(all_types: Engine) -> None:
    conv = walk(all_types, *TO_CONCERNS, "lines", "", "once")
    turn = all_types.reply(conv, "I want to HURT MYSELF")
    assert turn.finished and conv.state == "crisis"
    assert all_types.view(conv).ending.urgent


def test_back_from_an_urgent_ending_lets_a_mistaken_tap_be_corrected(all_types: Engine) -> None:
    conv = walk(all_types, "", "1", "40", "yes")
    assert all_types.back(conv).accepted and conv.state == "breathing_now"
    assert all_types.reply(conv, "no").accepted
    assert conv.flags == [] and conv.state == "concerns"


def test_review_flags_choose_the_points_ending_and_list_topics(all_types: Engine) -> None:
    conv = walk(all_types, "", "1", "70", "no", "sweating", "3", "1", "", "never", "make it permanent", "", "")
    assert conv.state == "points"
    assert conv.flags == ["older", "severe_sweat", "expectations"]
    assert all_types.view(conv).ending.topics == (  # the note flag "older" is for staff only
        "Sweating that is hard to bear",
        "Hopes for a permanent result",
    )


def test_restart_clears_everything_but_the_language(all_types: Engine) -> None:
    conv = walk(all_types, *TO_CONCERNS)
    turn_before = conv.revision
    assert all_types.restart(conv).accepted
    assert conv.state == "welcome" and conv.answers == {} and conv.path == [] and conv.consent is None
    assert conv.revision > turn_before  # old buttons become stale


def test_finished_conversation_refuses_more_answers(all_types: Engine) -> None:
    conv = walk(all_types, "", "No thanks")
    turn = all_types.reply(conv, "hello")
    assert not turn.accepted and "finished" in turn.error


def test_every_accepted_operation_bumps_the_turn(all_types: Engine) -> None:
    conv = all_types.start()
    turns = [conv.revision]
    for op in (
        lambda: all_types.reply(conv, ""),
        lambda: all_types.choose(conv, "agree"),
        lambda: all_types.back(conv),
    ):
        op()
        turns.append(conv.revision)
    assert turns == sorted(set(turns))


def test_conversation_is_plain_json_and_restores_identically(all_types: Engine) -> None:
    conv = walk(all_types, *TO_CONCERNS)
    all_types.toggle(conv, "pores")
    text = json.dumps(conv.to_dict())
    restored = Conversation.from_dict(json.loads(text))
    assert restored == conv
    for c in (conv, restored):
        all_types.toggle(c, "oil")
        all_types.submit_selection(c)
        all_types.reply(c, "72")
    assert restored.to_dict() == conv.to_dict()


def test_unknown_conversation_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown conversation format"):
        Conversation.from_dict({"v": 99, "flow": "x", "state": "a", "lang": "en"})


def test_one_machine_serves_every_conversation(all_types: Engine) -> None:
    a, b = all_types.start(), all_types.start()
    all_types.reply(a, "")
    assert a.state == "consent" and b.state == "welcome"
    assert all_types.machine.models == []  # no conversation is ever attached to the machine
    assert not any(name.startswith("to_") for name in all_types.machine.events)


def test_language_for_telegram_codes(skin: Engine) -> None:
    assert skin.language_for("de-AT") == "de"
    assert skin.language_for("DE") == "de"
    assert skin.language_for("fr") == skin.flow.default_language
    assert skin.language_for(None) == skin.flow.default_language


def test_an_urgent_answer_still_standing_wins_over_an_early_ending(all_types: Engine) -> None:
    """Found by the property test: urgent answer, back to age, then an age that ends early."""
    conv = walk(all_types, "", "1", "40", "yes")
    all_types.back(conv)
    all_types.back(conv)
    assert conv.state == "age" and "breathing" in conv.flags
    all_types.reply(conv, "16")
    assert conv.state == "urgent"


def test_withdrawing_consent_later_keeps_nothing(all_types: Engine) -> None:
    conv = walk(all_types, "", "1", "40", "yes")
    for _ in range(3):
        all_types.back(conv)
    assert conv.state == "consent"
    assert all_types.choose(conv, "decline").finished
    assert conv.state == "declined" and conv.answers == {"consent": "decline"} and conv.flags == []
    assert conv.path == ["welcome", "consent"]


def test_an_ending_without_a_topic_is_named_by_its_first_words(all_types: Engine, skin: Engine) -> None:
    from bot.engine.texts import first_words

    assert skin.outcome_topic("points_to_discuss") == "Completed, with points to discuss at the consultation"
    assert skin.outcome_topic("points_to_discuss", "de") == "Abgeschlossen, mit Punkten für die Beratung"
    assert all_types.outcome_topic("declined") == "Nothing was stored."
    assert skin.outcome_topic("gone_since_an_edit") == "gone_since_an_edit"  # an ending the flow lost
    cut = first_words("Thank you for completing the questionnaire! You told us what you would like to change.")
    assert cut == "Thank you for completing the questionnaire! You told us…"
    assert len(cut) <= 60
    assert first_words("First line.\n\nSecond paragraph.") == "First line."
