"""A copy of the answers for the patient (bot/pdf/patient_copy.py, bot/channels/telegram/copies.py):
the patient edition of the intake's PDF, sent as a Telegram document at an ending and from
/myanswers, made when it is sent, never after /delete, and never with what is for staff only.

The PDFs are read back with pypdf; the end-to-end tests run the bot as a process against the fake
Bot API (sendDocument, multipart upload) and read the uploaded file's bytes.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
import sqlalchemy as sa
from support.channels import channel_with_fake
from support.default_flow import ROUTINE_TO_SUMMARY, begin
from support.fake_telegram import FakeTelegram
from support.patients import InProcessPatient, TelegramPatient
from support.pdfs import flat, play, text_of
from support.staff import staff_store
from support.turns import apply_async

from bot.channels.telegram import render
from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.copies import Copies
from bot.channels.telegram.events import Chat, Event
from bot.channels.telegram.render import Renderer
from bot.channels.telegram.runner import TurnRunner
from bot.engine import Conversation, Engine
from bot.flow import model
from bot.pdf.page import consent_text, sha256
from bot.staff.exports import Exporter
from bot.staff.i18n import StaffLanguages
from bot.staff.pdf import IntakePdf
from bot.staff.review import Review
from bot.store import Store, utcnow
from bot.store.group import GroupCommit
from bot.store.review import add_note
from bot.store.schema import messages
from bot.store.store import GAVE_UP

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
    for key in ("copy_title", "copy_ending", "copy_answers", "copy_consent", "copy_messages"):
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
    # ... all of which the chart's PDF of the same intake does show: the absences above are the
    # patient edition's doing, not words no PDF would print
    staff_words = StaffLanguages(skin.flow.default_language).translations(lang)
    chart, _pages = text_of(IntakePdf(skin, Exporter(skin)).render(Review(store).intake_view(intake_id), staff_words))
    assert flat(skin.text(staff_only.topic, lang)) in flat(chart)
    for heading in ("Flags", "Transcript"):
        assert staff_words.gettext(heading) in chart and staff_words.gettext(heading) not in text


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


# --------------------------------------------------------------------------- nothing for staff only


def test_staff_login_names_never_reach_the_patients_copy(skin: Engine, store: Store) -> None:
    """A staff message is stored with its writer (a login name when the member has no display
    name; "talk closed" always with the login): the patient read the clinic's signature, and the
    copy names the clinic only."""
    from bot.staff.talks import Ending as TalkEnding
    from bot.staff.talks import Talks

    intake_id = play(skin, store, 35, "en")
    talks = Talks(store, skin)
    talks.send(intake_id, "jsmith@clinic.example", None, "Hello, any questions?")
    talks.finish(intake_id, "k.mueller.login", TalkEnding.CLOSE)
    with store.transaction() as tx:
        waiting = tx.pending(35, limit=1000)
        tx.mark_all_sent([(row.id, 9000 + n, utcnow()) for n, row in enumerate(waiting)])
    text, _ = text_of(Copies(store, skin).make(35, intake_id).data)
    assert "Hello, any questions?" in text  # the message is there ...
    assert "jsmith" not in text and "k.mueller" not in text  # ... its writer's login is not


@pytest.mark.parametrize("lang", ["en", "de"])
def test_no_urgent_ending_offers_a_copy_but_myanswers_still_does(skin: Engine, store: Store, lang: str) -> None:
    """Nothing may stand beside "get help now": an urgent ending has no copy button (and no line
    about one); /myanswers, once the person is safe, still sends it."""
    for step in skin.flow.steps:
        if isinstance(step, model.OutcomeStep) and step.urgent:
            conv = skin.start(lang)
            conv.state = step.id
            conv.answers = {"age_band": "from_18_to_64"}
            conv.path = ["age_band"]
            prompt = skin.view(conv)
            assert prompt.ending.answered
            keyboard = Renderer(skin).keyboard(prompt, 1, lang)
            assert not any(render.parse_callback(b.get("data", "")) for row in keyboard for b in row), step.id
            assert "/myanswers" not in Renderer(skin).ending_text(prompt, lang), step.id
    patient = InProcessPatient(TurnRunner(skin, store), Chat(36, 36, "P36", None, None, lang))
    patient.command("/start")
    patient.tap(skin.message(lang, "continue"))
    patient.tap(skin.text(next(s for s in skin.flow.steps if s.id == "consent").agree, lang))
    for step_id, choice in (("age_band", "from_18_to_64"), ("toxin_last_time", "never")):
        patient.tap(dict(skin.option_labels(skin.steps[step_id], lang))[choice])
    patient.tap(skin.message(lang, "yes"))  # allergy signs now: the urgent ending
    assert patient.intake().outcome == "allergy_emergency"
    patient.command("/myanswers")
    assert COPY[lang] in [b["text"] for row in patient.outbox()[-2]["keyboard"] for b in row]


# --------------------------------------------------------------------------- the outbox's copies


@pytest.fixture()
async def channel(skin: Engine, store: Store):
    async with channel_with_fake(skin, store) as pair:
        yield pair


async def queue_copy_then_text(store: Store, chat_id: int, intake_id: int, fake: FakeTelegram) -> list:
    """A copy asked for, then the next reply of the chat (a crisis text, say), as a turn stores them."""
    fake.send_text(chat_id, "hello")  # the chat exists at the fake's end
    with store.transaction() as tx:
        return tx.record_turn(
            intake_id,
            chat_id,
            None,
            None,
            "press",
            [render.copy("Your copy", intake_id).payload(), render.send("The next reply").payload()],
            utcnow(),
        )


async def settle(channel: TelegramChannel, rows: list) -> None:
    channel.outbox.push(rows)
    await channel.outbox.idle()
    channel.outbox.group.commit_now()


def gave_up(store: Store, row_id: int) -> str:
    with store.transaction(read_only=True) as tx:
        row = tx.conn.execute(
            sa.select(messages.c.attempts, messages.c.last_error, messages.c.sent_at).where(messages.c.id == row_id)
        ).one()
    assert row.attempts == GAVE_UP and row.sent_at is None, row
    return row.last_error


async def test_the_outbox_sends_a_copy_made_then(skin: Engine, store: Store, channel) -> None:
    channel, fake = channel
    intake_id = await asyncio.to_thread(play, skin, store, 37, "en")
    rows = await queue_copy_then_text(store, 37, intake_id, fake)
    await settle(channel, rows)
    [document] = fake.documents(37)
    assert document["caption"] == "Your copy" and text_of(document["data"])[0].count("How old are you?") == 1
    assert [m["text"] for m in fake.messages(37)][-1] == "The next reply"  # after it, in order
    with store.transaction(read_only=True) as tx:  # both marked sent (the questions played before: never sent)
        assert not {row.id for row in rows} & {row.id for row in tx.pending(37, limit=1000)}


async def test_a_copy_that_cannot_be_made_is_given_up_and_holds_nothing_back(
    skin: Engine, store: Store, channel, caplog: pytest.LogCaptureFixture
) -> None:
    channel, fake = channel
    intake_id = await asyncio.to_thread(play, skin, store, 38, "en", typed="Meine geheime Antwort")

    def broken(chat_id: int, intake: int):
        raise ValueError("Meine geheime Antwort")  # a renderer's bug, quoting what it met

    channel.outbox.copies = broken
    rows = await queue_copy_then_text(store, 38, intake_id, fake)
    await settle(channel, rows)
    assert fake.documents(38) == [] and fake.messages(38)[-1]["text"] == "The next reply"
    assert gave_up(store, rows[0].id) == "copy: ValueError"
    assert "ValueError" in caplog.text and "geheime" not in caplog.text  # the kind only, never the words


@pytest.mark.parametrize("error_code", [400, 500])
async def test_a_copy_telegram_refuses_or_drops_is_given_up_and_the_chat_goes_on(
    skin: Engine, store: Store, channel, error_code: int
) -> None:
    """A refused upload (400) or one that may or may not have arrived (a 5xx, a timeout) is not
    tried again: the next reply (a crisis text may be among them) never waits behind a PDF."""
    channel, fake = channel
    intake_id = await asyncio.to_thread(play, skin, store, 39, "en")
    fake.fail_next("sendDocument", error_code=error_code, chat_id=39)
    rows = await queue_copy_then_text(store, 39, intake_id, fake)
    await settle(channel, rows)
    assert fake.documents(39) == [] and fake.messages(39)[-1]["text"] == "The next reply"
    assert gave_up(store, rows[0].id).startswith("copy: ")


async def test_a_copy_asked_for_before_delete_is_never_made_after_it(skin: Engine, store: Store, channel) -> None:
    channel, fake = channel
    intake_id = await asyncio.to_thread(play, skin, store, 41, "en")
    make = channel.outbox.copies

    def erased_first(chat_id: int, intake: int):
        with store.transaction() as tx:  # /delete confirmed while the copy waited its turn
            tx.delete_chat(chat_id)
        return make(chat_id, intake)

    channel.outbox.copies = erased_first
    rows = await queue_copy_then_text(store, 41, intake_id, fake)
    channel.outbox.push(rows[:1])
    await channel.outbox.idle()
    channel.outbox.group.commit_now()
    assert fake.documents(41) == [] and not fake.calls("sendDocument")


async def test_a_group_run_again_still_queues_the_copy_and_a_double_tap_queues_one(skin: Engine, store: Store) -> None:
    """The group commit runs a turn again when another chat's turn in it fails: the copy asked
    for is still queued (the store says whether one is on its way, not this process's memory)."""
    turns = TurnRunner(skin, store)
    intake_id = await asyncio.to_thread(play, skin, store, 43, "en")
    with store.transaction() as tx:
        revision = Conversation.from_dict(tx.intake(intake_id).state).revision
    chat = Chat(43, 43, "P43", None, None, "en")
    tap = Event("press", data=render.callback(intake_id, revision, render.Action.COPY), label=COPY["en"])
    group = GroupCommit(store)

    def other_chat_fails(tx):
        raise RuntimeError("another chat's turn")

    first, _ = await asyncio.gather(
        group.run(lambda tx: turns.apply_in(tx, 990001, chat, tap)), group.run(other_chat_fails), return_exceptions=True
    )
    assert group.reruns >= 1
    assert [row.payload["op"] for row in first.outgoing] == ["copy"] and first.toast == "Your copy is on its way."
    second = await apply_async(turns, 990002, chat, tap)  # tapped again at once
    assert second.toast == "Your copy is on its way." and second.outgoing == []


# --------------------------------------------------------------------------- the copy's words and letters


def test_a_flows_copy_words_are_held_to_what_telegram_takes() -> None:
    """A caption is at most 1,024 characters (the clinic's name filled in), a button label short,
    a file name plain: the checker says so at the exact line, before a patient is told "on its
    way" of a copy Telegram then refuses."""
    from support.default_flow import DEFAULT_FLOW

    from bot.flow import FlowError, parse_checked

    source = DEFAULT_FLOW.read_text(encoding="utf-8")
    for override, expected in (
        (f'messages:\n  copy_caption: {{en: "{"x" * 1020} {{clinic}}", de: "ok"}}\n', "at most 1024 characters"),
        ('messages:\n  copy_button: {en: "' + "y" * 61 + '", de: "ok"}\n', "button label too long"),
        ('messages:\n  copy_file_name: {en: "my answers/2026", de: "ok"}\n', "a file name"),
    ):
        with pytest.raises(FlowError) as raised:
            parse_checked(source.replace("\nsections:\n", f"\n{override}\nsections:\n", 1), "skin.yaml")
        assert expected in str(raised.value) and "skin.yaml:" in str(raised.value)
    from bot.flow.check.texts import MAX_CAPTION, MAX_LABEL
    from bot.flow.messages import DEFAULT_MESSAGES

    for words in DEFAULT_MESSAGES.values():  # the project's own words fit too
        assert len(words["copy_caption"]) < MAX_CAPTION - 100 and len(words["copy_button"]) <= MAX_LABEL


def test_letters_the_font_lacks_show_as_a_mark_and_emoji_are_left_out() -> None:
    from bot.pdf.page import printable

    assert printable("🚨 Call 112 now") == "Call 112 now"
    assert printable("李小龙, born 1980") == "\ufffd\ufffd\ufffd, born 1980"  # something was written here
    assert printable("Größe ⚠ 👍🏽") == "Größe ⚠"


def test_a_finished_intake_whose_ending_the_flow_lost_is_still_finished(skin: Engine, store: Store) -> None:
    intake_id = play(skin, store, 44, "en")
    with store.transaction() as tx:
        intake = tx.intake(intake_id)
        intake.state = {**intake.state, "state": "an_ending_since_removed"}
        tx.save_intake(intake)
    text, _ = text_of(Copies(store, skin).make(44, intake_id).data)
    assert flat(skin.message("en", "copy_ending_gone")) in flat(text)
    assert flat(skin.message("en", "copy_not_finished")) not in flat(text)
