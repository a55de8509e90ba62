"""A copy of the answers for the patient (bot/pdf/patient_copy.py, bot/channels/telegram/copies.py):
the patient edition of the intake's PDF, sent as a Telegram document at an ending and from
/myanswers, made when it is sent, never after /delete, and never with what is for staff only.

The PDFs are read back with pypdf; the end-to-end tests run the bot as a process against the fake
Bot API (sendDocument, multipart upload) and read the uploaded file's bytes.
"""

from __future__ import annotations

import logging

import pytest
from support.default_flow import ROUTINE_TO_SUMMARY, begin
from support.patients import InProcessPatient, TelegramPatient
from support.pdfs import flat, play, text_of
from support.staff import staff_store

from bot.channels.telegram.copies import Copies
from bot.channels.telegram.events import Chat
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Conversation, Engine
from bot.pdf.page import consent_text, sha256
from bot.store import Store
from bot.store.review import add_note

COPY = {"en": "📄 Send me a copy of my answers", "de": "📄 Kopie meiner Antworten senden"}


@pytest.fixture()
def store(sqlite_url: str) -> Store:
    return staff_store(sqlite_url)


def worried(skin: Engine, store: Store, chat_id: int, lang: str) -> int:
    """A completed intake with a high flag the ending lists (breastfeeding) and a staff-only one
    it does not (appearance worries: ``appearance_avoid`` answered "often")."""
    return play(
        skin,
        store,
        chat_id,
        lang,
        typed="Größere Poren <script>x</script>",
        flagged=True,
        changes={21: ("choose", "often")},
    )


@pytest.mark.parametrize("lang", ["en", "de"])
def test_the_copy_has_what_the_patient_saw_and_nothing_for_staff_only(skin: Engine, store: Store, lang: str) -> None:
    intake_id = worried(skin, store, 30 if lang == "en" else 31, lang)
    with store.transaction() as tx:
        intake = tx.intake(intake_id)
        assert "appearance_worry" in intake.flags and "pregnancy" in intake.flags
        add_note(tx, intake_id, "dr.s", "Staff only: call her back about the injector")
    document = Copies(store, skin).make(intake.chat_id, intake_id)
    assert document is not None
    assert document.name == f"{skin.message(lang, 'copy_file_name')}-{intake_id}.pdf"
    text, _pages = text_of(document.data)
    words = flat(text)
    for key in ("copy_title", "copy_ending", "copy_answers", "copy_consent", "copy_conversation"):
        assert flat(skin.message(lang, key)) in words, key
    assert str(intake_id) in text and "Example Skin Clinic" in text
    # the ending as shown, with the point it listed (a high flag the patient may raise)
    ending = skin.view(Conversation.from_dict(intake.state)).ending
    assert ending.id == "points_to_discuss"
    assert flat(ending.text) in words and flat(ending.consultation) in words
    pregnancy = next(f for f in skin.flow.flags if f.id == "pregnancy")
    assert flat(skin.text(pregnancy.topic, lang)) in words
    # every answer with its question as asked, in the patient's language; typed words as typed
    question = next(s for s in skin.flow.steps if s.id == "pregnancy")
    assert flat(skin.text(question.ask, lang)) in words
    assert flat(skin.display(question, "breastfeeding", lang)) in words
    assert flat("Größere Poren <script>x</script>") in words
    # the consent receipt: the text agreed to and its fingerprint
    agreed = consent_text(skin, intake.consent_version, lang)
    assert agreed is not None and sha256(agreed) in words
    # nothing for staff only: no staff-only flag, no note, no severity, no staff words
    staff_only = next(f for f in skin.flow.flags if f.id == "appearance_worry")
    for other in ("en", "de"):
        assert flat(skin.text(staff_only.topic, other)) not in words
    assert "callherback" not in words.lower() and "dr.s" not in words
    for staff_word in ("Flags", "Severity", "Reviewed", "High", "Hoch"):
        assert staff_word not in text


def test_no_copy_is_made_for_another_chat_or_of_an_erased_intake(skin: Engine, store: Store) -> None:
    intake_id = play(skin, store, 32, "en")
    copies = Copies(store, skin)
    assert copies.make(33, intake_id) is None  # someone else's intake: never
    assert copies.make(32, intake_id) is not None
    with store.transaction() as tx:
        tx.delete_chat(32)
    assert copies.make(32, intake_id) is None  # /delete between the tap and the sending: nothing


# --------------------------------------------------------------------------- over Telegram


def documents_after(fake, chat_id: int, count: int) -> list[dict]:
    fake.wait_for(lambda: len(fake.documents(chat_id)) >= count, timeout=20)
    return fake.documents(chat_id)


@pytest.mark.e2e
def test_the_ending_sends_a_copy_as_a_telegram_document_once_a_tap(fake, bot) -> None:
    patient = TelegramPatient(fake, 3101)
    begin(patient)
    patient.walk(ROUTINE_TO_SUMMARY)
    patient.tap("Looks right, finish", expect="consultation")
    ending = patient.last()
    assert patient.buttons(ending) == ["Book a consultation", COPY["en"]]
    assert "/myanswers" in ending["text"] and "You would like to improve: Large-looking pores." in ending["text"]
    answered = len(fake.calls("answerCallbackQuery"))
    patient.tap(COPY["en"])
    [document] = documents_after(fake, 3101, 1)
    assert fake.calls("answerCallbackQuery")[answered]["params"]["text"] == "Your copy is on its way."
    assert document["mime_type"] == "application/pdf" and document["file_name"].startswith("my-answers-")
    assert "not a diagnosis" in document["caption"]
    text, _ = text_of(document["data"])
    assert "A copy of your answers" in text and "How old are you?" in text and "18 to 64" in text
    # a second tap while the first copy is on its way (or just sent) makes no second file
    patient.tap(COPY["en"])
    patient.command("/privacy", expect="What is stored")  # a fence: the chat's replies are sent in order
    assert len(fake.documents(3101)) == 1
    # /myanswers offers it too
    patient.command("/myanswers", expect="This is what is stored")
    assert COPY["en"] in patient.buttons(fake.wait_for_text(3101, "This is what is stored"))


@pytest.mark.e2e
def test_myanswers_offers_a_copy_before_the_ending_in_german(fake, bot) -> None:
    patient = TelegramPatient(fake, 3102, language_code="de")
    patient.command("/start", expect="Guten Tag")
    patient.tap("Weiter", expect="Sind Sie einverstanden")
    patient.tap("Ich stimme zu", expect="Wie alt sind Sie?")
    patient.tap("18 bis 64", expect="Botox")
    patient.command("/myanswers", expect="Das ist von Ihren Antworten gespeichert")
    message = fake.wait_for_text(3102, "Das ist von Ihren Antworten gespeichert")
    assert COPY["de"] in patient.buttons(message)
    fake.press_button(3102, COPY["de"], **patient.user())
    [document] = documents_after(fake, 3102, 1)
    assert document["file_name"].startswith("meine-antworten-")
    text, _ = text_of(document["data"])
    words = flat(text)
    assert flat("Sie haben den Fragebogen noch nicht abgeschlossen.") in words
    assert "18bis64" in words and flat("Ihre Einwilligung") in words


@pytest.mark.e2e
def test_after_delete_no_copy_can_be_made(fake, bot, db_path) -> None:
    patient = TelegramPatient(fake, 3103)
    begin(patient)
    patient.walk(ROUTINE_TO_SUMMARY)
    patient.tap("Looks right, finish", expect="consultation")
    ending_id = patient.last()["message_id"]
    patient.command("/delete", expect="Erase everything")
    patient.tap("Yes, erase everything")
    fake.wait_for_text(3103, "has been erased")  # the question edited into the answer
    # the copy button still showing on the old ending: a tap makes nothing
    ending = patient.message(ending_id)
    data = next(
        b["callback_data"] for row in ending["reply_markup"]["inline_keyboard"] for b in row if b["text"] == COPY["en"]
    )
    answer = patient.press_data(ending_id, data)
    assert "earlier step" in answer.get("text", "")
    patient.command("/myanswers", expect="No answers are stored")
    assert patient.buttons() == []
    patient.command("/privacy", expect="What is stored")  # a fence: everything before it was sent
    assert fake.documents(3103) == []


def test_an_urgent_endings_copy_prints_its_text_with_no_missing_letter(
    skin: Engine, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """The chat's emoji (🚨 on the ending, 📄 on the button quoted in the transcript) are left out of
    the PDF rather than printed as empty boxes; the words all print."""
    turns = TurnRunner(skin, store)
    patient = InProcessPatient(turns, Chat(34, 34, "P34", None, None, "en"))
    patient.command("/start")
    patient.tap("Continue")
    patient.tap("I agree")
    patient.tap("18 to 64")
    patient.tap("No, never")
    patient.tap("Yes")  # allergy signs now: the urgent ending at once
    with store.transaction() as tx:
        intake = tx.current_intake(34)
    assert intake.outcome == "allergy_emergency"
    with caplog.at_level(logging.WARNING):
        document = Copies(store, skin).make(34, intake.id)
    assert document is not None and not [r for r in caplog.records if "missing" in r.getMessage()]
    text, _ = text_of(document.data)
    ending = next(s for s in skin.flow.steps if s.id == "allergy_emergency")
    assert flat(skin.text(ending.text, "en")) in flat(text)
    assert "🚨" not in text and "📄" not in text
