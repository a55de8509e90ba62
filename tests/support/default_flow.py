"""The default flow (flows/skin_botox.yaml) as the tests walk it: paths, question texts, routes."""

from __future__ import annotations

from pathlib import Path

from bot.engine import Engine
from bot.flow import model
from support.patients import Patient, Step

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FLOW = ROOT / "flows" / "skin_botox.yaml"
ALL_TYPES_FLOW = ROOT / "tests" / "flows" / "all_types.yaml"

# Question texts (fragments) of the default flow, as the patient reads them.
Q_WELCOME = "Hello! This is the automated assistant"
Q_AGE = "How old are you?"
Q_TOXIN = "botulinum toxin injections"
Q_SYMPTOMS_NOW = "Since your last injection, do you now have"
Q_ALLERGY_NOW = "A quick safety question"
Q_CONCERNS = "What would you like to improve?"
Q_OTHER_ALLERGIES = "Are you allergic to any of these?"
Q_SKIN_TYPE = "react to the sun"
Q_PREVIOUS = "How did your last botulinum toxin treatment go?"
Q_PREVIOUS_DETAILS = "Is there anything about that treatment"
Q_GOAL = "In a sentence or two"
Q_CONTACT = "How would you like the clinic to contact you"
Q_CONTACT_TIMES = "When is it usually best to reach you?"
SUMMARY = "Here is what you told us"

# --------------------------------------------------------------------------- the engine's view

# Typed or tapped answers (English labels or numbers) for a routine intake with nothing flagged:
# ("choose", option value) or ("reply", typed text), for Engine.choose / Engine.reply.
ROUTINE = [
    ("reply", ""),  # welcome
    ("choose", "agree"),
    ("choose", "from_18_to_64"),
    ("choose", "never"),  # toxin_last_time
    ("choose", "no"),  # allergy signs now
    ("reply", "pores, oily"),
    ("reply", ""),  # skin type: optional, skipped
    ("choose", "no"),  # pregnancy
    ("choose", "no"),  # toxin allergy
    ("choose", "none"),  # other allergies
    ("choose", "no"),  # infection
    ("choose", "no"),  # nerve-muscle
    ("choose", "no"),  # swallowing/breathing
    ("choose", "no"),  # heart
    ("choose", "none"),  # interacting medicines
    ("choose", "none"),  # bruising risk
    ("choose", "none"),  # recent procedures
    ("choose", "no_date"),
    ("choose", "subtle"),
    ("reply", "Smaller pores"),
    ("choose", "under_30_min"),
    ("choose", "never"),
    ("choose", "telegram"),
    ("reply", "evening"),
]


def routine(lang: str) -> list[tuple[str, str]]:
    """The routine intake, with its typed answers in ``lang``."""
    script = list(ROUTINE)
    if lang == "de":
        script[5] = ("reply", "Große Poren, fettige")
        script[-1] = ("reply", "Abend")
    return script


# --------------------------------------------------------------------------- a patient's view

# From the first question (age) to the summary, the routine way, as a patient taps and types.
ROUTINE_TO_SUMMARY: list[Step] = [
    ("tap", "18 to 64", Q_TOXIN),
    ("tap", "No, never", Q_ALLERGY_NOW),
    ("tap", "No", Q_CONCERNS),
    ("tap", "Large-looking pores", None),
    ("tap", "Done", Q_SKIN_TYPE),
    ("tap", "Skip this question", "Are you pregnant"),
    ("tap", "No, or this does not apply to me", "allergic reaction to a botulinum"),
    ("tap", "No", Q_OTHER_ALLERGIES),
    ("type", "None of these", "skin infection"),
    ("tap", "No", "nerves and muscles"),
    ("tap", "No", "trouble swallowing"),
    ("tap", "No", "heart or circulation"),
    ("tap", "No", "Do you currently take any of these medicines?"),
    ("type", "None of these", "Do any of these apply to you?"),
    ("type", "6", "In the last 4 weeks"),  # typed: the number of "None of these" in that list
    ("tap", "None of these", None),
    ("tap", "Done", "special event"),
    ("tap", "No particular date", "What kind of result"),
    ("tap", "A subtle, natural-looking improvement", Q_GOAL),
    ("type", "Smaller pores before summer", "worrying about how you look"),
    ("tap", "Less than 30 minutes", "avoid people"),
    ("tap", "No, never", Q_CONTACT),
    ("tap", "Here in Telegram", "best to reach you"),
    ("tap", "Any time", None),
    ("tap", "Done", SUMMARY),
]

# From "A quick safety question" (answered No) up to the typed goal, the shortest routine way.
SAFETY_TO_GOAL: list[Step] = [
    ("tap", "No", Q_CONCERNS),
    ("tap", "Large-looking pores", None),
    ("tap", "Done", Q_SKIN_TYPE),
    ("tap", "Skip this question", "Are you pregnant"),
    ("tap", "No, or this does not apply to me", "allergic reaction to a botulinum"),
    ("tap", "No", Q_OTHER_ALLERGIES),
    ("type", "None of these", "skin infection"),
    ("tap", "No", "nerves and muscles"),
    ("tap", "No", "trouble swallowing"),
    ("tap", "No", "heart or circulation"),
    ("tap", "No", "Do you currently take any of these medicines?"),
    ("type", "None of these", "Do any of these apply to you?"),
    ("type", "None of these", "In the last 4 weeks"),
    ("type", "None of these", "special event"),
    ("tap", "No particular date", "What kind of result"),
    ("tap", "A subtle, natural-looking improvement", Q_GOAL),
]
GOAL_TO_SUMMARY: list[Step] = [
    ("type", "Smaller pores before summer", "worrying about how you look"),
    ("tap", "Less than 30 minutes", "avoid people"),
    ("tap", "No, never", Q_CONTACT),
    ("tap", "Here in Telegram", Q_CONTACT_TIMES),
    ("tap", "Any time", None),
    ("tap", "Done", SUMMARY),
]


def with_typed_text_flag(engine: Engine, words: list[str], topic: str = "Words") -> Engine:
    """The default flow plus a review flag ``words`` over every typed answer (``typed_text_mentions``:
    the default flow no longer has one since crisis words moved to its safety screen)."""
    rule = model.FlagRule(
        id="words", severity="review", topic=topic, when=model.TypedTextCondition(typed_text_mentions=words)
    )
    return Engine(engine.flow.model_copy(update={"flags": [*engine.flow.flags, rule]}))


def begin(patient: Patient, source: str = "/start website") -> None:
    """/start, past the welcome, and agree: at the age question."""
    patient.command(source, expect="automated assistant")
    patient.tap("Continue", expect="Before we start")
    patient.tap("I agree", expect=Q_AGE)


def to_safety_question(patient: Patient, source: str = "/start") -> None:
    """On to "A quick safety question", as an adult who never had a toxin treatment."""
    begin(patient, source)
    patient.tap("18 to 64", expect=Q_TOXIN)
    patient.tap("No, never", expect=Q_ALLERGY_NOW)
