"""The default skin Botox flow: the clinical brief's screening items and its kinds of ending."""

from __future__ import annotations

import pytest
from support.default_flow import DEFAULT_FLOW, ROUTINE, routine

from bot.channels.telegram.render import Renderer
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
    assert {f for f, s in severity.items() if s == "urgent"} == {
        "toxin_spread_now",
        "allergy_now",
        "swallow_breath_now",
        "self_harm",
    }
    for high in (
        "pregnancy",
        "toxin_allergy",
        "cow_milk_allergy",
        "infection_at_site",
        "nerve_muscle",
        "swallow_breath",
    ):
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


@pytest.mark.parametrize(
    ("lang", "words"), [("en", "sometimes I want to end my life"), ("de", "ich will mich umbringen")]
)
def test_self_harm_words_lead_to_crisis_support(skin: Engine, lang: str, words: str) -> None:
    """The safety screen reads the words (the channel asks it before the answer is taken); the
    person may carry on, and stopping, or finishing later, ends with crisis support."""
    conv = run(skin, routine(lang)[:19], lang=lang)
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


# --------------------------------------------------------------------------- the clinical review (issue 12)
#
# Each case of the review, in English and German, walked on the engine. ``walk`` answers every
# step as a routine intake would (``ROUTINE_ANSWERS``) unless the test says otherwise.

ROUTINE_ANSWERS: dict[str, object] = {
    "consent": "agree",
    "age_band": "from_18_to_64",
    "toxin_last_time": "never",
    "toxin_symptoms_now": "no",
    "allergy_signs_now": "no",
    "skin_concerns": ["large_pores"],
    "line_areas": ["cheeks"],
    "eye_area": ["none"],
    "sweat_areas": ["underarms"],
    "sweat_since": "since_young",
    "sweat_pattern": ["none"],
    "sweat_severity": "2",
    "skin_type": None,  # skipped
    "pregnancy": "no",
    "toxin_allergy": "no",
    "other_allergies": ["none"],
    "site_infection": "no",
    "nerve_muscle": "no",
    "swallow_breath": "no",
    "swallow_breath_now": "no",
    "heart_condition": "no",
    "interacting_meds": ["none"],
    "bruising_risk": ["none"],
    "previous_result": ["went_well"],
    "previous_details": None,
    "recent_procedures": ["none"],
    "event_timing": "no_date",
    "expectation": "subtle",
    "goal_text": "Smaller pores",
    "appearance_time": "under_30_min",
    "appearance_avoid": "never",
    "contact_method": "telegram",
    "contact_times": ["any_time"],
}
LANGS = pytest.mark.parametrize("lang", ["en", "de"])


def walk(engine: Engine, lang: str = "en", *, until: str | None = None, **answers: object):
    """Answer step by step (info steps continued, the summary confirmed) until the ending, or
    until the step ``until`` is reached; returns the conversation and the info steps shown."""
    conv = engine.start(lang)
    shown: list[str] = []
    while not engine.finished(conv) and conv.state != until:
        step = engine.step(conv)
        if isinstance(step, model.InfoStep):
            shown.append(step.id)
            turn = engine.choose(conv, "continue")
        elif isinstance(step, model.SummaryStep):
            turn = engine.choose(conv, "confirm")
        else:
            value = answers.get(step.id, ROUTINE_ANSWERS[step.id])
            if value is None:
                turn = engine.skip(conv)
            elif isinstance(step, model.MultiQuestion):
                for choice in value:  # type: ignore[attr-defined]
                    engine.toggle(conv, choice)
                turn = engine.submit_selection(conv)
            elif isinstance(step, model.TextQuestion):
                turn = engine.reply(conv, str(value))
            else:
                turn = engine.choose(conv, str(value))
        assert turn.accepted, f"refused at {step.id}: {turn.error}"
    return conv, shown


def test_the_walk_of_a_routine_intake_ends_routinely(skin: Engine) -> None:
    conv, shown = walk(skin)
    assert skin.view(conv).ending.id == "routine" and conv.flags == [] and shown == ["welcome"]


# --- under 18 and consent declined: no booking button, and a line on getting help now


@LANGS
@pytest.mark.parametrize(
    ("answers", "ending_id"), [({"age_band": "under_18"}, "under_18_end"), ({"consent": "decline"}, "consent_declined")]
)
def test_under_18_and_declined_endings_have_no_booking_button_and_say_where_to_get_help_now(
    skin: Engine, lang: str, answers: dict, ending_id: str
) -> None:
    conv, _ = walk(skin, lang, **answers)
    ending = skin.view(conv).ending
    assert ending.id == ending_id and ending.booking_link is None
    injection = {"en": "recently had an injection", "de": "kürzlich eine Injektion hatten"}[lang]
    assert injection in ending.text and "112" in ending.text
    assert wording.recommends_consultation(ending.consultation, lang)


# --- symptoms after a toxin injection: any injection in the last 3 months, or not sure when


@LANGS
@pytest.mark.parametrize("when", ["within_4_weeks", "within_3_months", "not_sure"])
def test_symptoms_after_an_injection_in_the_last_3_months_or_not_sure_when_reach_the_urgent_text(
    skin: Engine, lang: str, when: str
) -> None:
    conv, _ = walk(skin, lang, toxin_last_time=when, toxin_symptoms_now="yes")
    ending = skin.view(conv).ending
    assert ending.id == "urgent_care" and ending.urgent and "toxin_spread_now" in conv.flags
    assert "allergy_signs_now" not in conv.answers  # nothing asked after the urgent answer


def test_symptoms_two_months_after_an_injection_are_asked_at_once(skin: Engine) -> None:
    """The case the review found: 1 to 3 months ago was never asked about symptoms now."""
    conv, _ = walk(skin, toxin_last_time="within_3_months", until="toxin_symptoms_now")
    assert conv.state == "toxin_symptoms_now"
    conv, _ = walk(skin, toxin_last_time="over_3_months", until="toxin_symptoms_now")
    assert "toxin_symptoms_now" not in conv.path


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ["blurred", "hoarse or changed voice", "bladder control", "swallowing", "double vision"]),
        (
            "de",
            ["verschwommenes Sehen", "heisere oder veränderte Stimme", "Urin zu halten", "Schlucken", "Doppelbilder"],
        ),
    ],
)
def test_the_symptoms_question_names_blurred_vision_a_changed_voice_and_bladder_control(
    skin: Engine, lang: str, words: list[str]
) -> None:
    ask = skin.text(skin.steps["toxin_symptoms_now"].ask, lang)
    for word in words:
        assert word in ask, word


@LANGS
def test_not_sure_when_the_last_toxin_was_is_flagged(skin: Engine, lang: str) -> None:
    conv, _ = walk(skin, lang, toxin_last_time="not_sure")
    assert "toxin_when_unsure" in conv.flags
    assert skin.view(conv).ending.id == "points_to_discuss"


@LANGS
def test_past_swallowing_trouble_asks_whether_it_is_happening_now_and_yes_is_urgent(skin: Engine, lang: str) -> None:
    conv, _ = walk(skin, lang, swallow_breath="yes", swallow_breath_now="yes")
    ending = skin.view(conv).ending
    assert ending.id == "urgent_care" and ending.urgent
    assert {"swallow_breath", "swallow_breath_now"} <= set(conv.flags)
    assert "heart_condition" not in conv.answers
    conv, _ = walk(skin, lang, swallow_breath="yes", swallow_breath_now="no")
    assert skin.view(conv).ending.id == "points_to_discuss" and "swallow_breath_now" not in conv.flags


# --- a severe allergic reaction: its own urgent text, no "otherwise, today"


@pytest.mark.parametrize(
    ("lang", "words", "later"),
    [
        ("en", ["adrenaline auto-injector", "112", "999", "911", "emergency number"], ["Otherwise", "today"]),
        ("de", ["Adrenalin-Autoinjektor", "112", "Notrufnummer", "Rachen"], ["Sonst", "heute"]),
    ],
)
def test_a_severe_allergic_reaction_reaches_its_own_urgent_text_without_a_today_branch(
    skin: Engine, lang: str, words: list[str], later: list[str]
) -> None:
    conv, _ = walk(skin, lang, allergy_signs_now="yes")
    ending = skin.view(conv).ending
    assert ending.id == "allergy_emergency" and ending.urgent and conv.flags == ["allergy_now"]
    for word in words:
        assert word in ending.text, word
    for word in later:
        assert word not in ending.text, word
    assert ending.text.index(words[0]) < ending.text.index("112")  # the auto-injector first
    assert "skin_concerns" not in conv.answers


# --- sweating that a GP should look at


@LANGS
@pytest.mark.parametrize(
    "answers",
    [
        {"sweat_since": "recent"},
        {"sweat_pattern": ["mostly_at_night"]},
        {"sweat_pattern": ["fever_weight_loss"]},
        {"sweat_pattern": ["one_side"]},
        {"sweat_areas": ["whole_body"]},
    ],
    ids=["new", "at night", "fever or weight loss", "one side", "all over the body"],
)
def test_sweating_of_these_kinds_gets_a_neutral_line_to_see_a_gp_soon(skin: Engine, lang: str, answers: dict) -> None:
    conv, shown = walk(skin, lang, skin_concerns=["sweating"], **answers)
    assert "sweat_see_gp" in shown
    gp = {"en": "GP soon, whatever you decide", "de": "bald in Ihrer Hausarztpraxis"}[lang]
    assert gp in skin.text(skin.steps["sweat_see_gp"].text, lang)
    ending = skin.view(conv).ending
    assert "sweating_pattern" in conv.flags  # all over the body is flagged too
    assert any(("GP" if lang == "en" else "Hausarztpraxis") in p for p in ending.paragraphs)


def test_ordinary_sweating_gets_no_gp_line(skin: Engine) -> None:
    conv, shown = walk(skin, skin_concerns=["sweating"])
    assert shown == ["welcome"] and conv.flags == []


# --- the points-to-discuss ending


@LANGS
def test_the_points_ending_is_neutral_and_lists_the_points_below_the_sentence_that_names_them(
    skin: Engine, lang: str
) -> None:
    conv, _ = walk(skin, lang, pregnancy="breastfeeding", heart_condition="yes")
    prompt = skin.view(conv)
    ending = prompt.ending
    assert ending.id == "points_to_discuss"
    for judging in ("very common", "simply", "üblich", "einfach"):
        assert judging not in ending.text
    text = Renderer(skin).ending_text(prompt, lang)
    below = {"en": "the points below", "de": "die folgenden Punkte"}[lang]
    these = {"en": "mention these points", "de": "diese Punkte dort an"}[lang]
    first_topic = skin.text(next(f.topic for f in skin.flow.flags if f.id == "pregnancy"), lang)
    assert text.index(below) < text.index(first_topic) < text.index(these)
    assert ending.topics[0] == first_topic and len(ending.topics) == 2
    assert "/myanswers" in text  # where to read what they told us


@LANGS
@pytest.mark.parametrize(
    ("answers", "medicine_sentence"),
    [
        ({"interacting_meds": ["muscle_relaxant"]}, True),
        ({"bruising_risk": ["blood_thinner"]}, True),
        ({"bruising_risk": ["supplements"]}, True),
        ({"bruising_risk": ["bleeding_disorder"]}, False),  # a condition, not a medicine
        ({"interacting_meds": ["not_sure"]}, False),
        ({"pregnancy": "trying"}, False),
    ],
)
def test_the_medicine_sentence_shows_only_when_a_medicine_was_ticked(
    skin: Engine, lang: str, answers: dict, medicine_sentence: bool
) -> None:
    conv, _ = walk(skin, lang, **answers)
    ending = skin.view(conv).ending
    assert ending.id == "points_to_discuss"
    words = {"en": "don't stop or change any medicine", "de": "kein Medikament ab"}[lang]
    assert any(words in p for p in ending.paragraphs) is medicine_sentence


@LANGS
def test_high_flags_say_staff_review_before_a_booking_is_confirmed(skin: Engine, lang: str) -> None:
    review = {"en": "before a booking is confirmed", "de": "bevor ein Termin bestätigt wird"}[lang]
    conv, _ = walk(skin, lang, nerve_muscle="not_sure")  # high
    assert any(review in p for p in skin.view(conv).ending.paragraphs)
    conv, _ = walk(skin, lang, heart_condition="yes")  # review only
    assert not any(review in p for p in skin.view(conv).ending.paragraphs)


# --- staff-only flags, allergies, the eye area, an event soon


@LANGS
def test_worry_about_appearance_is_for_staff_and_never_listed_to_the_patient(skin: Engine, lang: str) -> None:
    conv, _ = walk(skin, lang, appearance_time="over_3_hours", heart_condition="yes")
    assert "appearance_worry" in conv.flags
    worry = skin.text(next(f.topic for f in skin.flow.flags if f.id == "appearance_worry"), lang)
    ending = skin.view(conv).ending
    assert worry not in ending.topics and len(ending.topics) == 1
    # alone, it does not send the person to an ending about points it cannot list
    conv, _ = walk(skin, lang, appearance_avoid="often")
    assert conv.flags == ["appearance_worry"] and skin.view(conv).ending.id == "routine"


@LANGS
def test_a_cows_milk_protein_allergy_is_its_own_choice_and_flagged_high(skin: Engine, lang: str) -> None:
    conv, _ = walk(skin, lang, other_allergies=["cow_milk"])
    assert conv.flags == ["cow_milk_allergy"] and conv.answers["toxin_allergy"] == "no"
    assert {r.id: r.severity for r in skin.flag_rules}["cow_milk_allergy"] == "high"
    hint = skin.text(skin.steps["toxin_allergy"].hint, lang)
    assert "Yes" not in hint and "Ja" not in hint  # no longer folded into the toxin question


@LANGS
@pytest.mark.parametrize("allergy", ["numbing_cream", "latex", "plasters", "disinfectant"])
def test_other_allergies_are_asked_and_flagged(skin: Engine, lang: str, allergy: str) -> None:
    conv, _ = walk(skin, lang, other_allergies=[allergy])
    assert conv.flags == ["other_allergy"]
    assert skin.view(conv).ending.id == "points_to_discuss"


@LANGS
@pytest.mark.parametrize("area", ["forehead", "between_brows", "around_eyes"])
def test_droopy_lids_dry_eyes_or_eyelid_surgery_are_asked_for_the_forehead_and_eye_area(
    skin: Engine, lang: str, area: str
) -> None:
    conv, _ = walk(skin, lang, skin_concerns=["fine_lines"], line_areas=[area], eye_area=["dry_eyes"])
    assert "eye_area" in conv.answers and conv.flags == ["eye_area"]


def test_the_eye_area_question_is_not_asked_for_other_areas(skin: Engine) -> None:
    conv, _ = walk(skin, skin_concerns=["fine_lines"], line_areas=["cheeks", "neck"])
    assert "eye_area" not in conv.path and conv.flags == []


@LANGS
def test_an_event_within_two_weeks_is_flagged(skin: Engine, lang: str) -> None:
    conv, _ = walk(skin, lang, event_timing="within_2_weeks")
    assert conv.flags == ["event_soon"]
    conv, _ = walk(skin, lang, event_timing="within_2_months")
    assert conv.flags == []


# --- German wording, the file's header, what to expect


def test_german_says_rachen_for_the_throat_and_bei_starken_beschwerden(skin: Engine) -> None:
    assert "im Rachen" in skin.text(skin.steps["allergy_signs_now"].ask, "de")
    urgent = skin.text(skin.steps["urgent_care"].text, "de")
    assert "Bei starken Beschwerden" in urgent and "Rachen" in urgent and "Wenn es schwer ist" not in urgent
    for step in skin.flow.steps:
        for value in (getattr(step, "ask", None), getattr(step, "text", None)):
            if isinstance(value, dict):
                assert "oder Hals" not in value["de"], step.id


@LANGS
def test_human_promises_a_person_in_opening_hours_and_says_not_to_wait_when_unwell(skin: Engine, lang: str) -> None:
    said = skin.message(lang, "human_requested")
    back = {"en": "answer in this chat", "de": "antwortet in diesem Chat"}[lang]
    live = {"en": "don't wait for us", "de": "warten Sie bitte nicht auf uns"}[lang]
    assert back in said and live in said
    consent = skin.text(skin.steps["consent"].text, lang)
    assert "mit einem Menschen" not in consent and "asks for a person" not in consent


def test_the_header_cites_its_sources_in_words_not_a_path_outside_the_repository() -> None:
    lines = DEFAULT_FLOW.read_text(encoding="utf-8").splitlines()
    header = " ".join(line.lstrip("#").strip() for line in lines if line.startswith("#"))
    assert "/work/" not in header and "screening.md" not in header
    assert "clinical brief" in header and "prescribing information (product labels)" in header


@pytest.mark.parametrize(
    ("lang", "facts"),
    [
        (
            "en",
            [
                "cleansed",
                "numbing cream",
                "marked",
                "fine needle",
                "15 to 30 minutes",
                "normal activities",
                "few days",
                "3 to 6 months",
                "redness",
                "infection",
                "allergic reaction",
                "uneven",
                "sun protection",
                "skincare routine",
                "follow-up visits",
                "consultation",
            ],
        ),
        (
            "de",
            [
                "gereinigt",
                "betäubende Creme",
                "markiert",
                "feinen Nadel",
                "15 bis 30 Minuten",
                "gewohnten Tätigkeiten",
                "einigen Tagen",
                "3 bis 6 Monate",
                "Rötung",
                "Infektion",
                "allergische Reaktion",
                "ungleichmäßiges",
                "Sonnenschutz",
                "Hautpflege",
                "Kontrolltermine",
                "Beratung",
            ],
        ),
    ],
)
def test_what_to_expect_covers_the_clinics_article_without_promoting_a_product(
    skin: Engine, lang: str, facts: list[str]
) -> None:
    about = skin.text(skin.flow.what_to_expect, lang)
    for fact in facts:
        assert fact in about, fact
    for brand in ("Dysport", "Xeomin", "Allergan", "Vistabel", "Azzalure", "Bocouture", "units"):
        assert brand not in about
    assert "/expect" in skin.text(skin.steps["welcome"].text, lang)
    assert "/expect" in skin.message(lang, "help")
