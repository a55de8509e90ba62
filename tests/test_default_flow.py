"""The default skin Botox flow: the clinical brief's screening items and its kinds of ending."""

from __future__ import annotations

import pytest
from support.default_flow import ROUTINE, routine

from bot.engine import Engine
from bot.flow import model, wording

# The brief's screening table, as the question ids that ask each item.
SCREENING_QUESTIONS = {
    "age band": "age_band",
    "pregnancy": "pregnancy",
    "allergy to a toxin product": "toxin_allergy",
    "infection at the area": "site_infection",
    "nerve-muscle conditions": "nerve_muscle",
    "swallowing or breathing history": "swallow_breath",
    "recent toxin + symptoms now": "toxin_symptoms_now",
    "severe allergic reaction now": "allergy_signs_now",
    "other toxin treatment": "toxin_last_time",
    "interacting medicines": "interacting_meds",
    "bruising risk": "bruising_risk",
    "recent procedures": "recent_procedures",
    "heart conditions": "heart_condition",
    "sweating pattern": "sweat_pattern",
    "sweating severity": "sweat_severity",
    "skin concerns": "skin_concerns",
    "skin type": "skin_type",
    "previous treatments": "previous_result",
    "goals and expectations": "expectation",
    "appearance worry": "appearance_time",
    "contact preference": "contact_method",
}


def run(engine: Engine, script: list[tuple[str, str]], lang: str = "en"):
    conv = engine.start(lang)
    for op, arg in script:
        if op == "choose" and isinstance(engine.step(conv), model.MultiQuestion):
            engine.toggle(conv, arg)
            turn = engine.submit_selection(conv)
        else:
            turn = getattr(engine, op)(conv, arg)
        assert turn.accepted, f"{arg!r} refused at {conv.state}: {turn.error}"
    return conv


def test_every_screening_item_of_the_brief_is_asked(skin: Engine) -> None:
    for item, question in SCREENING_QUESTIONS.items():
        assert isinstance(skin.steps.get(question), model.QUESTION_TYPES), item


def test_the_sweating_scale_has_four_labelled_points(skin: Engine) -> None:
    step = skin.steps["sweat_severity"]
    assert isinstance(step, model.ScaleQuestion) and [p.value for p in step.points] == [1, 2, 3, 4]


def test_flag_severities_follow_the_brief(skin: Engine) -> None:
    severity = {f.id: f.severity for f in skin.flow.flags}  # self_harm: raised by the safety screen
    assert {f for f, s in severity.items() if s == "urgent"} == {"toxin_spread_now", "allergy_now", "self_harm"}
    for high in ("pregnancy", "toxin_allergy", "infection_at_site", "nerve_muscle", "swallow_breath"):
        assert severity[high] == "high", high


def test_consent_comes_first_and_age_before_any_health_question(skin: Engine) -> None:
    kinds = [(s.id, s.kind) for s in skin.flow.steps]
    assert kinds[:5] == [
        ("welcome", "info"),
        ("consent", "consent"),
        ("consent_declined", "outcome"),
        ("age_band", "question"),
        ("under_18_end", "outcome"),
    ]


def test_a_routine_intake_ends_with_a_consultation(skin: Engine) -> None:
    conv = run(skin, ROUTINE)
    assert conv.state == "review_answers"
    assert skin.choose(conv, "confirm").finished
    ending = skin.view(conv).ending
    assert ending.id == "routine" and not ending.urgent and ending.topics == ()
    assert wording.recommends_consultation(ending.consultation, "en")
    assert conv.flags == []


def test_the_same_intake_in_german(skin: Engine) -> None:
    conv = run(skin, routine("de"), lang="de")
    skin.choose(conv, "confirm")
    prompt = skin.view(conv)
    assert prompt.ending.id == "routine"
    assert wording.recommends_consultation(prompt.ending.consultation, "de")
    assert conv.answers["skin_concerns"] == ["large_pores", "oiliness"]


def test_under_18_ends_at_once_and_suggests_a_visit_with_a_parent(skin: Engine) -> None:
    conv = run(skin, [*ROUTINE[:2], ("choose", "under_18")])
    assert conv.state == "under_18_end"
    assert set(conv.answers) == {"consent", "age_band"}
    assert "parent" in skin.view(conv).ending.consultation.lower()


def test_declining_consent_keeps_nothing(skin: Engine) -> None:
    conv = run(skin, [("reply", ""), ("choose", "decline")])
    assert conv.state == "consent_declined" and conv.answers == {"consent": "decline"}


def test_recent_toxin_with_symptoms_now_sends_to_urgent_care(skin: Engine) -> None:
    conv = run(skin, [*ROUTINE[:3], ("choose", "within_4_weeks")])
    assert conv.state == "toxin_symptoms_now"
    turn = skin.choose(conv, "yes")
    assert turn.raised == ("toxin_spread_now",) and turn.finished
    ending = skin.view(conv).ending
    assert ending.id == "urgent_care" and ending.urgent


def test_an_allergic_reaction_now_sends_to_urgent_care(skin: Engine) -> None:
    conv = run(skin, ROUTINE[:4])
    assert skin.choose(conv, "yes").finished
    assert skin.view(conv).ending.id == "urgent_care"


@pytest.mark.parametrize(
    ("lang", "words"), [("en", "sometimes I want to end my life"), ("de", "ich will mich umbringen")]
)
def test_self_harm_words_lead_to_crisis_support(skin: Engine, lang: str, words: str) -> None:
    """The safety screen reads the words (the channel asks it before the answer is taken); the
    person may carry on, and stopping, or finishing later, ends with crisis support."""
    conv = run(skin, routine(lang)[:18], lang=lang)
    assert conv.state == "goal_text"
    found = skin.screen(conv, words)
    assert found is not None and not found.ask_first and found.language == lang
    effect = skin.screened(conv, found)
    assert effect.raised == ("self_harm",) and not effect.finished and conv.state == "goal_text"
    assert skin.stop(conv, found.screen).finished
    ending = skin.view(conv).ending
    assert ending.id == "crisis_support" and ending.urgent


def test_after_crisis_words_the_intake_carries_on_and_ends_with_crisis_support(skin: Engine) -> None:
    conv = run(skin, routine("en")[:18])
    skin.screened(conv, skin.screen(conv, "I want to kill myself"))
    for op, arg in routine("en")[18:]:  # carried on: every later answer is taken, the flag stays
        if op == "choose" and isinstance(skin.step(conv), model.MultiQuestion):
            skin.toggle(conv, arg)
            assert skin.submit_selection(conv).accepted
        else:
            assert getattr(skin, op)(conv, arg).accepted
    skin.choose(conv, "confirm")
    assert "self_harm" in conv.flags and skin.view(conv).ending.id == "crisis_support"


def test_review_flags_are_listed_in_plain_words(skin: Engine) -> None:
    script = list(ROUTINE)
    script[7] = ("choose", "breastfeeding")
    conv = run(skin, script)
    skin.choose(conv, "confirm")
    ending = skin.view(conv).ending
    assert ending.id == "points_to_discuss"
    assert ending.topics == ("Pregnancy, trying to get pregnant, or breastfeeding",)
    assert conv.flags == ["pregnancy"]


def test_sweating_questions_only_for_sweating(skin: Engine) -> None:
    conv = run(skin, [*ROUTINE[:5], ("reply", "sweating")])
    assert conv.state == "sweat_areas"
    conv = run(skin, ROUTINE[:6])
    assert conv.state == "skin_type"
