"""Urgent answers stick (issue 12, section 2): an urgent ending once shown is kept for good.

Going back from it, or changing the answer behind it at the summary, stays possible but asks a
kind yes/no first; whatever the person does next (keep, change, /restart), the record of what was
shown, when and why stays with the intake until the intake itself is erased (/delete).
Engine tests on the test flow; turns on the default flow, in English and German, on a real SQLite
file and a real PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from support.patients import InProcessPatient

from bot.channels.telegram import render
from bot.channels.telegram.events import Chat, Event
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Conversation, Engine
from bot.flow import model
from bot.flow.graph import option_ids
from bot.store import Store

NOW = "2026-12-05T10:32:00+00:00"


def walk(engine: Engine, *inputs: str) -> Conversation:
    conv = engine.start()
    for text in inputs:
        assert engine.reply(conv, text, now=NOW).accepted, (text, conv.state)
    return conv


# --------------------------------------------------------------------------- the engine


def test_an_urgent_ending_is_recorded_with_when_which_flag_and_the_answer_behind_it(all_types: Engine) -> None:
    conv = walk(all_types, "", "I agree", "40", "yes")
    assert conv.state == "urgent"
    record = {"at": NOW, "flag": "breathing", "outcome": "urgent", "answers": {"breathing_now": "yes"}}
    assert conv.urgent_shown == [record]
    assert Conversation.from_dict(conv.to_dict()).urgent_shown == [record]  # plain JSON in the store


def test_going_back_and_answering_no_keeps_the_record_but_clears_the_flag(all_types: Engine) -> None:
    conv = walk(all_types, "", "I agree", "40", "yes")
    assert all_types.urgent_at_stake(conv) == "breathing"  # the channel asks before going back
    assert all_types.back(conv).accepted and conv.state == "breathing_now"
    assert all_types.urgent_at_stake(conv) is None  # asked once: the Back button on the question is free
    assert all_types.reply(conv, "no", now=NOW).accepted
    assert conv.flags == [] and conv.state == "concerns"
    assert [r["answers"] for r in conv.urgent_shown] == [{"breathing_now": "yes"}]


def test_restart_and_declining_consent_keep_the_record(all_types: Engine) -> None:
    conv = walk(all_types, "", "I agree", "40", "yes")
    all_types.back(conv)
    all_types.restart(conv)
    assert conv.answers == {} and len(conv.urgent_shown) == 1
    for text in ("", "No thanks"):
        all_types.reply(conv, text, now=NOW)
    assert conv.answers == {"consent": "decline"} and len(conv.urgent_shown) == 1


def test_an_urgent_ending_shown_again_is_recorded_again(all_types: Engine) -> None:
    conv = walk(all_types, "", "I agree", "40", "yes")
    all_types.back(conv)
    assert all_types.reply(conv, "yes", now="2026-12-05T10:40:00+00:00").accepted
    assert [r["at"] for r in conv.urgent_shown] == [NOW, "2026-12-05T10:40:00+00:00"]


def test_typed_words_behind_a_crisis_ending_are_its_answer(all_types: Engine) -> None:
    conv = walk(all_types, "", "I agree", "40", "no", "lines", "", "once")
    assert all_types.reply(conv, "I want to hurt myself", now=NOW).finished
    [record] = conv.urgent_shown
    assert record["flag"] == "self_harm" and record["outcome"] == "crisis"
    assert list(record["answers"].values()) == ["I want to hurt myself"]


def test_the_flag_gives_its_own_question_else_the_interface_asks(all_types: Engine, skin: Engine) -> None:
    conv = all_types.start()
    assert all_types.urgent_change_ask(conv, "breathing").startswith("You told us about something that needs help")
    conv = skin.start("de")
    assert skin.urgent_change_ask(conv, "toxin_spread_now") == (
        "Sie haben uns gesagt, dass Sie diese Beschwerden jetzt haben. Möchten Sie diese Antwort ändern?"
    )


# --------------------------------------------------------------------------- turns, default flow

WORDS = {
    "en": {
        "continue": "Continue",
        "agree": "I agree",
        "adult": "18 to 64",
        "recent": "Yes, in the last 4 weeks",
        "yes": "Yes",
        "no": "No",
        "ask": "You told us that you have these symptoms now. Do you want to change that answer?",
        "change": "Yes, change that answer",
        "keep": "No, keep my answer",
        "kept": "OK, your answer stays as it is.",
        "urgent": "Please get medical help now",
        "symptoms": "Since your last injection",
        "summary": "Here is what you told us",
        "allergy": "A quick safety question",
        "back": "Back",
    },
    "de": {
        "continue": "Weiter",
        "agree": "Ich stimme zu",
        "adult": "18 bis 64",
        "recent": "Ja, in den letzten 4 Wochen",
        "yes": "Ja",
        "no": "Nein",
        "ask": "Sie haben uns gesagt, dass Sie diese Beschwerden jetzt haben. Möchten Sie diese Antwort ändern?",
        "change": "Ja, Antwort ändern",
        "keep": "Nein, Antwort behalten",
        "kept": "In Ordnung, Ihre Antwort bleibt, wie sie ist.",
        "urgent": "Bitte holen Sie sich jetzt ärztliche Hilfe",
        "symptoms": "Haben Sie seit Ihrer letzten Injektion",
        "summary": "Das haben Sie uns mitgeteilt",
        "allergy": "Eine kurze Sicherheitsfrage",
        "back": "Zurück",
    },
}


@pytest.fixture()
def turns(skin: Engine, store: Store) -> TurnRunner:
    return TurnRunner(skin, store)


def patient_in(turns: TurnRunner, lang: str) -> InProcessPatient:
    return InProcessPatient(turns, Chat(77, 77, "Uma", None, "uma", lang))


def to_urgent_ending(patient: InProcessPatient, w: dict[str, str]) -> None:
    patient.command("/start")
    patient.tap(w["continue"])
    patient.tap(w["agree"])
    patient.tap(w["adult"])
    patient.tap(w["recent"], expect=w["symptoms"])
    patient.tap(w["yes"], expect=w["urgent"])


def back_from_urgent_ending(turns: TurnRunner, lang: str) -> tuple[InProcessPatient, dict[str, str]]:
    """To the urgent ending, /back, and yes to changing that answer: at the symptoms question."""
    w = WORDS[lang]
    patient = patient_in(turns, lang)
    to_urgent_ending(patient, w)
    patient.command("/back", expect=w["ask"])
    patient.tap(w["change"], expect=w["symptoms"])
    return patient, w


def texts(result) -> list[str]:
    return [r.text or "" for r in result.direct] + [row.payload.get("text") or "" for row in result.outgoing]


@pytest.mark.parametrize("lang", ["en", "de"])
def test_back_from_an_urgent_ending_asks_first_then_keeps_urgent_shown(turns: TurnRunner, lang: str) -> None:
    w = WORDS[lang]
    patient = patient_in(turns, lang)
    to_urgent_ending(patient, w)
    ended = patient.intake()
    assert ended.status == "completed" and ended.urgent
    [record] = ended.state["urgent_shown"]
    assert record["flag"] == "toxin_spread_now" and record["answers"] == {"toxin_symptoms_now": "yes"}
    assert datetime.fromisoformat(record["at"]) == ended.urgent_shown_at  # copied out for the staff list

    patient.command("/back", expect=w["ask"])
    assert patient.intake().state["state"] == "urgent_care"  # nothing moved: asked first
    kept = patient.tap(w["keep"], expect=w["kept"])
    assert any(w["urgent"] in text for text in texts(kept))  # the advice again, not a formality
    assert patient.intake().state["state"] == "urgent_care"

    patient.command("/back", expect=w["ask"])
    patient.tap(w["change"], expect=w["symptoms"])
    patient.tap(w["no"], expect=w["allergy"])
    after = patient.intake()
    assert after.status == "in_progress" and not after.urgent and "toxin_spread_now" not in after.flags
    assert after.state["urgent_shown"] == [record]  # the record stays
    assert after.urgent_shown_at == ended.urgent_shown_at  # a turn never clears it


@pytest.mark.parametrize("lang", ["en", "de"])
def test_the_back_button_after_saying_yes_asks_nothing_more(turns: TurnRunner, lang: str) -> None:
    patient, w = back_from_urgent_ending(turns, lang)
    patient.tap(w["back"], expect="botulinum")  # on to the question before: no second question
    assert len(patient.intake().state["urgent_shown"]) == 1


def summary_number(result, question: str) -> int:
    summary = next(text for text in texts(result) if "\n1. " in text)
    for line in summary.splitlines():
        number, _, rest = line.partition(". ")
        if number.isdigit() and rest.startswith(question):
            return int(number)
    raise AssertionError(f"{question!r} not in the summary")


def press(patient: InProcessPatient, action: render.Action, arg: str = "", label: str = "") -> None:
    intake = patient.intake()
    data = render.callback(intake.id, intake.state.get("turn", 0), action, arg)
    patient._apply(Event("press", data=data, label=label or arg, message_id=None))


def answer_until_summary(patient: InProcessPatient, engine: Engine) -> Conversation:
    """Answer whatever comes with the quietest answer (no, none, a skip) until the summary: the
    route does not matter here, only getting there with the urgent answer changed."""
    quiet = ("no", "never", "none", "no_date", "telegram", "subtle", "under_30_min")
    for _ in range(60):
        conv = Conversation.from_dict(patient.intake().state)
        step = engine.steps[conv.state]
        if isinstance(step, model.SummaryStep):
            return conv
        if isinstance(step, model.InfoStep):
            press(patient, render.Action.CONTINUE)
        elif isinstance(step, model.TextQuestion):
            patient.type("Smaller pores")
        elif getattr(step, "optional", False):
            press(patient, render.Action.SKIP)
        elif isinstance(step, model.MultiQuestion):
            ids = [c.id for c in step.choices]
            press(patient, render.Action.TOGGLE, next((c for c in quiet if c in ids), ids[0]))
            press(patient, render.Action.DONE)
        else:
            ids = option_ids(step)
            press(patient, render.Action.CHOOSE, next((c for c in quiet if c in ids), ids[0]))
    raise AssertionError("no summary")


@pytest.mark.parametrize("lang", ["en", "de"])
def test_changing_the_answer_at_the_summary_asks_first_and_keeps_urgent_shown(
    turns: TurnRunner, skin: Engine, lang: str
) -> None:
    patient, w = back_from_urgent_ending(turns, lang)
    patient.tap(w["no"], expect=w["allergy"])
    conv = answer_until_summary(patient, skin)
    number = skin.views.summary_steps(conv).index("toxin_symptoms_now") + 1

    patient.tap(f"✏️ {number}", expect=w["ask"])
    patient.tap(w["keep"], expect=w["summary"])  # back at the summary, nothing changed
    assert patient.intake().state["state"] == "review_answers"
    patient.type(str(number), expect=w["ask"])  # the number typed asks the same
    assert patient.intake().state["state"] == "review_answers"
    patient.tap(w["change"], expect=w["symptoms"])
    assert patient.intake().state["state"] == "toxin_symptoms_now"
    patient.tap(w["no"], expect=w["summary"])
    assert len(patient.intake().state["urgent_shown"]) == 1

    other = skin.views.summary_steps(conv).index("toxin_last_time") + 1  # not behind the urgent text
    patient.tap(f"✏️ {other}", expect="botulinum")


def test_delete_erases_urgent_shown_with_the_intake(turns: TurnRunner) -> None:
    w = WORDS["en"]
    patient = patient_in(turns, "en")
    to_urgent_ending(patient, w)
    assert patient.intake().state["urgent_shown"]
    patient.command("/delete")
    patient.tap("Yes, erase everything")
    assert patient.intake() is None
    with turns.store.transaction() as tx:
        assert tx.current_intake(77) is None


@pytest.mark.parametrize("lang", ["en", "de"])
def test_restart_after_going_back_keeps_urgent_shown_on_the_intake(turns: TurnRunner, lang: str) -> None:
    patient, _ = back_from_urgent_ending(turns, lang)
    first = patient.intake()
    patient.command("/restart")
    patient.tap("Yes, start again" if lang == "en" else "Ja, neu beginnen")
    after = patient.intake()
    assert after.id == first.id and "answers" not in after.state
    assert len(after.state["urgent_shown"]) == 1 and after.urgent_shown_at is not None


def test_a_channel_can_record_an_urgent_text_of_its_own(all_types: Engine) -> None:
    """A text shown outside an ending (a safety screen on typed words) goes on the same record."""
    conv = walk(all_types, "", "I agree")
    all_types.mark_urgent_shown(conv, "self_harm", NOW)
    assert conv.urgent_shown == [{"at": NOW, "flag": "self_harm", "outcome": None, "answers": {}}]
    assert all_types.urgent_at_stake(conv) is None  # no ending to leave: nothing to ask
