"""The fake Telegram Bot API server, exercised with python-telegram-bot's real ``telegram.Bot``."""

from __future__ import annotations

import asyncio
import datetime as dtm
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from support.fake_telegram import FakeTelegram
from support.receiver import Receiver
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, ReplyKeyboardMarkup, Update
from telegram.constants import ChatAction, MessageEntityType
from telegram.error import BadRequest, Conflict, EndPointNotFound, Forbidden, InvalidToken, RetryAfter

# PTB 22 warns whenever RetryAfter.retry_after is read (it is becoming a timedelta); that is PTB's business.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")

CHAT = 42


@pytest.fixture
async def bot(fake_telegram: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(FakeTelegram.TOKEN, base_url=fake_telegram.base_url) as bot:
        yield bot


@pytest.fixture
def fake(fake_telegram: FakeTelegram) -> FakeTelegram:
    """The fake with a private chat already opened by the patient."""
    fake_telegram.send_text(CHAT, "hello")
    return fake_telegram


def keyboard(*labels: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=label.lower())] for label in labels])


def retry_after_seconds(exc: RetryAfter) -> float:
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


# ---------------------------------------------------------------------- basics


async def test_get_me_reports_the_bot_user(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username, me.first_name) == (123456789, True, "intake_test_bot", "Intake")


def test_the_fixture_serves_on_a_local_port(fake_telegram: FakeTelegram) -> None:
    assert fake_telegram.base_url == f"http://127.0.0.1:{fake_telegram.port}/bot"
    answer = httpx.get(f"{fake_telegram.base_url}{FakeTelegram.TOKEN}/getMe").json()
    assert answer["ok"] is True and answer["result"]["username"] == "intake_test_bot"


def test_stop_is_quick_even_with_a_long_poll_waiting() -> None:
    fake = FakeTelegram()
    fake.start()
    url = f"{fake.base_url}{fake.TOKEN}/getUpdates"
    poll = threading.Thread(target=lambda: httpx.post(url, data={"timeout": "30"}, timeout=35), daemon=True)
    poll.start()
    fake.wait_for(lambda: fake.calls("getUpdates"))
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 3
    poll.join(timeout=5)


def test_restart_keeps_the_url_and_the_state(fake: FakeTelegram) -> None:
    url = fake.base_url
    fake.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}{fake.TOKEN}/getMe")
    fake.start()
    assert fake.base_url == url
    answer = httpx.post(f"{url}{fake.TOKEN}/sendMessage", data={"chat_id": str(CHAT), "text": "back"}).json()
    assert answer["ok"] is True and answer["result"]["message_id"] == 2


async def test_send_edit_and_delete_are_read_back(bot: Bot, fake: FakeTelegram) -> None:
    sent = await bot.send_message(CHAT, "Which area?", reply_markup=keyboard("Forehead", "Crow's feet"))
    assert sent.chat.id == CHAT and sent.from_user.is_bot and sent.text == "Which area?"
    assert sent.message_id == 2  # ids are counted per chat, the patient's "hello" was 1
    assert sent.reply_markup == keyboard("Forehead", "Crow's feet")

    [message] = fake.messages(CHAT)
    assert message["text"] == "Which area?" and message["edits"] == 0 and not message["deleted"]
    assert message["reply_markup"]["inline_keyboard"][1][0] == {"text": "Crow's feet", "callback_data": "crow's feet"}

    edited = await bot.edit_message_text("Which area? Forehead", chat_id=CHAT, message_id=sent.message_id)
    assert edited.text == "Which area? Forehead" and edited.edit_date is not None
    [message] = fake.messages(CHAT)
    # Like Telegram, editing the text without a reply_markup removes the inline keyboard.
    assert message["text"] == "Which area? Forehead" and message["reply_markup"] is None and message["edits"] == 1

    await bot.edit_message_reply_markup(CHAT, sent.message_id, reply_markup=keyboard("Undo"))
    assert fake.messages(CHAT)[0]["reply_markup"] == keyboard("Undo").to_dict()
    assert fake.messages(CHAT)[0]["edits"] == 2

    assert await bot.delete_message(CHAT, sent.message_id) is True
    assert fake.messages(CHAT)[0]["deleted"] is True
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(CHAT, sent.message_id)


async def test_html_is_parsed_into_text_and_entities(bot: Bot, fake: FakeTelegram) -> None:
    sent = await bot.send_message(CHAT, "  <b>Hi</b> &amp; <a href='https://x.org'>link</a> ", parse_mode="HTML")
    assert sent.text == "Hi & link"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        (MessageEntityType.BOLD, 0, 2),
        (MessageEntityType.TEXT_LINK, 5, 4),
    ]
    assert sent.entities[1].url == "https://x.org"
    assert fake.messages(CHAT)[0]["parse_mode"] == "HTML"
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities: unexpected end of name token at byte offset 2"):
        await bot.send_message(CHAT, "I <3 you", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r'(?i)can.t find end tag corresponding to start tag "b"'):
        await bot.send_message(CHAT, "<b>open", parse_mode="HTML")


async def test_send_document_uploads_a_file_kept_with_its_bytes(bot: Bot, fake: FakeTelegram) -> None:
    sent = await bot.send_document(
        CHAT, InputFile(b"%PDF-1.7 hello", filename="my-answers-7.pdf"), caption="  Your copy  "
    )
    assert sent.document.file_name == "my-answers-7.pdf" and sent.document.mime_type == "application/pdf"
    assert sent.document.file_size == 14 and sent.caption == "Your copy"
    [document] = fake.documents(CHAT)
    assert document == {
        "message_id": sent.message_id,
        "file_name": "my-answers-7.pdf",
        "mime_type": "application/pdf",
        "caption": "Your copy",
        "data": b"%PDF-1.7 hello",
    }
    assert fake.messages(CHAT)[0]["text"] is None  # a file, not a text: wait_for_text passes it by
    with pytest.raises(BadRequest, match=r"(?i)message caption is too long"):
        await bot.send_document(CHAT, InputFile(b"x", filename="a.pdf"), caption="x" * 1025)
    with pytest.raises(BadRequest, match=r"(?i)file must be non-empty"):
        await bot.send_document(CHAT, InputFile(b"", filename="empty.pdf"))
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_document(CHAT + 1, InputFile(b"x", filename="a.pdf"))
    fake.block(CHAT)
    with pytest.raises(Forbidden):
        await bot.send_document(CHAT, InputFile(b"x", filename="a.pdf"))
    assert len(fake.documents(CHAT)) == 1


async def test_reply_keyboards_are_kept_but_not_reported_on_the_message(bot: Bot, fake: FakeTelegram) -> None:
    sent = await bot.send_message(CHAT, "Share?", reply_markup=ReplyKeyboardMarkup([["Yes", "No"]]))
    assert sent.reply_markup is None
    assert fake.messages(CHAT)[0]["reply_markup"]["keyboard"] == [[{"text": "Yes"}, {"text": "No"}]]


async def test_calls_record_decoded_parameters(bot: Bot, fake: FakeTelegram) -> None:
    await bot.send_message(CHAT, "123", reply_markup=keyboard("Ok"), disable_notification=True)
    [call] = fake.calls("sendmessage")
    assert call["method"] == "sendMessage" and call["status"] == 200
    # PTB sends strings raw and everything else JSON-encoded; the fake decodes by field.
    assert call["params"] == {
        "chat_id": CHAT,
        "text": "123",
        "disable_notification": True,
        "reply_markup": {"inline_keyboard": [[{"text": "Ok", "callback_data": "ok"}]]},
    }
    await bot.send_chat_action(CHAT, ChatAction.TYPING)
    assert fake.calls("sendChatAction")[0]["params"] == {"chat_id": CHAT, "action": "typing"}
    assert [call["method"] for call in fake.calls()] == ["getMe", "sendMessage", "sendChatAction"]


def test_json_bodies_and_query_strings_are_accepted(fake: FakeTelegram) -> None:
    url = f"{fake.base_url}{fake.TOKEN}"
    answer = httpx.post(f"{url}/sendMessage", json={"chat_id": CHAT, "text": "json"}).json()
    assert answer["ok"] is True and answer["result"]["text"] == "json"
    answer = httpx.get(f"{url}/SENDMESSAGE", params={"chat_id": str(CHAT), "text": "query"}).json()
    assert answer["ok"] is True and answer["result"]["chat"]["id"] == CHAT
    files = {"document": ("scan.pdf", b"%PDF-1.4", "application/pdf")}
    answer = httpx.post(f"{url}/sendMessage", data={"chat_id": str(CHAT), "text": "multipart"}, files=files).json()
    assert answer["ok"] is True
    assert fake.calls("sendMessage")[-1]["params"]["document"] == {
        "filename": "scan.pdf",
        "size": 8,
        "content_type": "application/pdf",
        "data": b"%PDF-1.4",
    }
    assert [message["text"] for message in fake.messages(CHAT)] == ["json", "query", "multipart"]


# ---------------------------------------------------------------------- getUpdates


async def test_long_poll_returns_an_update_injected_from_another_thread(bot: Bot, fake_telegram: FakeTelegram) -> None:
    timer = threading.Timer(0.3, fake_telegram.send_text, args=(CHAT, "late hello"))
    started = time.monotonic()
    timer.start()
    updates = await bot.get_updates(timeout=5)
    elapsed = time.monotonic() - started
    assert 0.25 < elapsed < 3
    [update] = updates
    assert update.message.text == "late hello" and update.effective_chat.id == CHAT
    assert update.effective_user.first_name == "Ada" and update.effective_user.language_code == "en"


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=dtm.timedelta(seconds=0.5)) == ()
    assert 0.45 < time.monotonic() - started < 2


async def test_offset_confirms_earlier_updates(bot: Bot, fake_telegram: FakeTelegram) -> None:
    first = fake_telegram.send_text(CHAT, "one")
    second = fake_telegram.send_text(CHAT, "two")
    assert second == first + 1
    assert [u.update_id for u in await bot.get_updates()] == [first, second]
    assert [u.update_id for u in await bot.get_updates()] == [first, second]  # not confirmed yet
    assert [u.update_id for u in await bot.get_updates(offset=second)] == [second]
    assert await bot.get_updates(offset=second + 1) == ()
    third = fake_telegram.send_text(CHAT, "three")
    assert [u.message.text for u in await bot.get_updates(offset=second + 1, limit=10)] == ["three"]
    assert (await bot.get_updates(offset=third, limit=1))[0].update_id == third


async def test_a_second_get_updates_ends_the_waiting_one(bot: Bot, fake_telegram: FakeTelegram) -> None:
    waiting = asyncio.create_task(bot.get_updates(timeout=5))
    while not [c for c in fake_telegram.calls("getUpdates") if c["status"] is None]:  # until it waits
        await asyncio.sleep(0.01)
    # A second bot instance (PTB allows one getUpdates at a time per Bot) polls too, as a duplicate deployment would.
    async with Bot(FakeTelegram.TOKEN, base_url=fake_telegram.base_url) as second:
        assert await second.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await waiting


async def test_redeliver_sends_the_same_update_again(bot: Bot, fake_telegram: FakeTelegram) -> None:
    update_id = fake_telegram.send_text(CHAT, "once")
    assert [update.update_id for update in await bot.get_updates()] == [update_id]
    assert await bot.get_updates(offset=update_id + 1) == ()
    fake_telegram.redeliver(update_id)
    [again] = await bot.get_updates(offset=update_id + 1)
    assert again.update_id == update_id and again.message.text == "once"
    assert await bot.get_updates(offset=update_id + 1) == ()


async def test_command_has_a_bot_command_entity(bot: Bot, fake_telegram: FakeTelegram) -> None:
    fake_telegram.send_command(CHAT, "/start website", first_name="Bea", language_code="de")
    [update] = await bot.get_updates()
    message = update.message
    assert message.text == "/start website"
    assert message.parse_entities([MessageEntityType.BOT_COMMAND]) == {message.entities[0]: "/start"}
    assert update.effective_user.first_name == "Bea" and update.effective_user.language_code == "de"


@pytest.mark.parametrize(
    ("send", "attribute"),
    [
        ("send_sticker", "sticker"),
        ("send_photo", "photo"),
        ("send_voice", "voice"),
        ("send_video", "video"),
        ("send_document", "document"),
        ("send_location", "location"),
        ("send_contact", "contact"),
    ],
)
async def test_media_updates_parse(bot: Bot, fake_telegram: FakeTelegram, send: str, attribute: str) -> None:
    getattr(fake_telegram, send)(CHAT)
    [update] = await bot.get_updates()
    assert update.message.text is None
    assert getattr(update.message, attribute)
    assert update.message.effective_attachment


# ---------------------------------------------------------------------- callback queries


async def test_press_button_builds_a_callback_query(bot: Bot, fake: FakeTelegram) -> None:
    await bot.send_message(CHAT, "Old question", reply_markup=keyboard("Yes", "No"))
    newest = await bot.send_message(CHAT, "New question", reply_markup=keyboard("Yes", "Not sure"))
    await bot.get_updates(offset=-1)  # forget the patient's "hello"
    update_id = fake.press_button(CHAT, "Yes")
    [update] = await bot.get_updates(offset=update_id)
    query = update.callback_query
    assert update.update_id == update_id and query.data == "yes"
    assert query.message.message_id == newest.message_id and query.message.text == "New question"
    assert query.message.reply_markup == keyboard("Yes", "Not sure")
    assert query.from_user.id == CHAT and query.chat_instance
    assert fake.unanswered_callback_queries() == [query.id]

    assert await bot.answer_callback_query(query.id, text="Noted") is True
    assert fake.unanswered_callback_queries() == []
    with pytest.raises(BadRequest, match=r"(?i)query is too old and response timeout expired or query id is invalid"):
        await bot.answer_callback_query(query.id)

    fake.press_button(CHAT, "sure")  # falls back to a label containing the text
    [update] = await bot.get_updates(offset=update_id + 1)
    assert update.callback_query.data == "not sure"


async def test_press_button_without_such_button_lists_the_buttons(bot: Bot, fake: FakeTelegram) -> None:
    await bot.send_message(CHAT, "Question", reply_markup=keyboard("Yes", "No"))
    with pytest.raises(AssertionError, match=r"no button 'Maybe'(.|\n)*\['Yes', 'No'\]"):
        fake.press_button(CHAT, "Maybe")


async def test_press_sends_any_data_on_a_bot_message(bot: Bot, fake: FakeTelegram) -> None:
    sent = await bot.send_message(CHAT, "Question", reply_markup=keyboard("Yes"))
    fake.press(CHAT, sent.message_id, "forged")
    updates = await bot.get_updates()
    assert updates[-1].callback_query.data == "forged"
    with pytest.raises(AssertionError):
        fake.press(CHAT, 1, "x")  # the patient's own message


# ---------------------------------------------------------------------- errors


def long_data_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("Ä", callback_data="ä" * 33)]])  # 33 characters, 66 bytes


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": ""}, "message text is empty"),
        ({"text": "   "}, "message must be non-empty"),
        ({"text": "x" * 4097}, "message is too long"),
        ({"text": "x", "reply_markup": long_data_keyboard()}, "button_data_invalid"),
        (
            {"text": "x", "reply_markup": InlineKeyboardMarkup([[InlineKeyboardButton("", callback_data="a")]])},
            "button_text_invalid",
        ),
        (
            {"text": "x", "reply_markup": InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="")]])},
            "can't parse inline keyboard button: text buttons are unallowed in the inline keyboard",
        ),
        ({"chat_id": 7, "text": "x"}, "chat not found"),
    ],
)
async def test_bad_messages_are_rejected(bot: Bot, fake: FakeTelegram, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        await bot.send_message(**{"chat_id": CHAT, **kwargs})
    # PTB strips "Bad Request: " and capitalizes the rest (lower-casing everything after the first letter).
    assert caught.value.message.lower() == message
    assert fake.messages(CHAT) == []


async def test_4096_characters_are_fine(bot: Bot, fake: FakeTelegram) -> None:
    await bot.send_message(CHAT, "ü" * 4096)
    assert len(fake.messages(CHAT)[0]["text"]) == 4096


async def test_bad_edits_are_rejected(bot: Bot, fake: FakeTelegram) -> None:
    sent = await bot.send_message(CHAT, "Same", reply_markup=keyboard("A"))
    with pytest.raises(BadRequest, match=r"(?i)^message to edit not found$"):
        await bot.edit_message_text("x", chat_id=CHAT, message_id=999)
    with pytest.raises(BadRequest, match=r"(?i)^message can't be edited$"):
        await bot.edit_message_text("x", chat_id=CHAT, message_id=1)  # the patient's message
    not_modified = (
        "message is not modified: specified new message content and reply markup are exactly the same as a "
        "current content and reply markup of the message"
    )
    with pytest.raises(BadRequest) as caught:
        await bot.edit_message_text("Same", chat_id=CHAT, message_id=sent.message_id, reply_markup=keyboard("A"))
    assert caught.value.message.lower() == not_modified
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(CHAT, sent.message_id, reply_markup=keyboard("A"))
    # Same text without the keyboard is a modification (the keyboard goes).
    await bot.edit_message_text("Same", chat_id=CHAT, message_id=sent.message_id)
    assert fake.messages(CHAT)[0]["edits"] == 1


async def test_unknown_callback_query_is_rejected(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query("12345")


async def test_fail_next_answers_429_with_retry_after(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", times=2, retry_after=3)
    for _ in range(2):
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(CHAT, "hi")
        assert retry_after_seconds(caught.value) == 3
    await bot.send_message(CHAT, "hi")
    assert [call["status"] for call in fake.calls("sendMessage")] == [429, 429, 200]
    assert len(fake.messages(CHAT)) == 1


async def test_fail_next_other_codes(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next("editMessageText", error_code=400, description="Bad Request: message can't be edited")
    fake.fail_next("getMe", error_code=502)
    with pytest.raises(BadRequest, match=r"(?i)^message can't be edited$"):
        await bot.edit_message_text("x", chat_id=CHAT, message_id=1)
    with pytest.raises(Exception, match="Bad Gateway"):
        await bot.get_me()


async def test_rate_limit_switch(bot: Bot, fake: FakeTelegram) -> None:
    fake.set_rate_limited(True, retry_after=2)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHAT, "hi")
    assert retry_after_seconds(caught.value) == 2
    with pytest.raises(RetryAfter):
        await bot.send_chat_action(CHAT, ChatAction.TYPING)
    assert (await bot.get_me()).is_bot  # only send*/edit* are limited
    fake.set_rate_limited(False)
    await bot.send_message(CHAT, "hi")


async def test_blocked_patient_answers_forbidden(bot: Bot, fake: FakeTelegram) -> None:
    fake.block(CHAT)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "hi")
    fake.block(CHAT, False)
    await bot.send_message(CHAT, "hi")


async def test_wrong_token_and_unknown_method(fake_telegram: FakeTelegram) -> None:
    other = "987654321:AAFakeTokenForTestsOnly_zyxwvutsrqp"
    with pytest.raises(InvalidToken, match="rejected by the server"):
        async with Bot(other, base_url=fake_telegram.base_url) as bot:
            pass
    assert fake_telegram.calls("getMe")[0]["status"] == 401
    with pytest.raises(InvalidToken):
        async with Bot("123:malformed", base_url=fake_telegram.base_url) as bot:
            pass
    assert fake_telegram.calls("getMe")[1]["status"] == 404
    async with Bot(FakeTelegram.TOKEN, base_url=fake_telegram.base_url) as bot:
        with pytest.raises(EndPointNotFound):
            await bot.do_api_request("sendPigeon", api_kwargs={"chat_id": CHAT})
    assert fake_telegram.calls("sendPigeon")[0]["status"] == 404


# ---------------------------------------------------------------------- commands


async def test_commands_by_language(bot: Bot, fake_telegram: FakeTelegram) -> None:
    assert await bot.set_my_commands([("start", "Start the questionnaire"), ("help", "Help")]) is True
    assert await bot.set_my_commands([("start", "Fragebogen starten")], language_code="de") is True
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert fake_telegram.commands() == {
        "": [
            {"command": "start", "description": "Start the questionnaire"},
            {"command": "help", "description": "Help"},
        ],
        "de": [{"command": "start", "description": "Fragebogen starten"}],
    }
    assert await bot.delete_my_commands(language_code="de") is True
    assert list(fake_telegram.commands()) == [""]
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([("Start-Now", "x")])


# ---------------------------------------------------------------------- webhook


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A bot's webhook: records POSTs; answers 403 on a wrong secret and 500 while ``failures`` last."""
    receiver = Receiver(secret="s3cret-Token_1")
    yield receiver
    receiver.close()


async def test_webhook_delivery(bot: Bot, fake_telegram: FakeTelegram, receiver: Receiver) -> None:
    early = fake_telegram.send_text(CHAT, "before the webhook")
    assert (
        await bot.set_webhook(receiver.url("/telegram"), secret_token=receiver.secret, allowed_updates=["message"])
        is True
    )
    second = fake_telegram.send_text(CHAT, "after the webhook")
    fake_telegram.wait_for(lambda: len(receiver.accepted_json()) == 2, timeout=5)
    assert [body["update_id"] for body, _ in receiver.accepted_json()] == [early, second]
    assert all(header == receiver.secret for _, header in receiver.accepted_json())
    update = Update.de_json(receiver.accepted_json()[1][0], bot)
    assert update.message.text == "after the webhook"

    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count, info.last_error_message) == (receiver.url("/telegram"), 0, None)
    assert info.allowed_updates == ("message",)
    assert fake_telegram.webhook()["secret_token"] == receiver.secret
    with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
        await bot.get_updates()

    assert fake_telegram.post_to_webhook({"update_id": 1}, "forged") == 403
    assert fake_telegram.post_to_webhook({"update_id": 1}, None) == 403
    assert fake_telegram.post_to_webhook({"update_id": 1}, receiver.secret) == 200


async def test_webhook_retries_until_the_receiver_accepts(
    bot: Bot, fake_telegram: FakeTelegram, receiver: Receiver
) -> None:
    receiver.failures = 2
    await bot.set_webhook(receiver.url("/telegram"), secret_token=receiver.secret)
    first = fake_telegram.send_text(CHAT, "first")
    second = fake_telegram.send_text(CHAT, "second")
    fake_telegram.wait_for(lambda: len(receiver.accepted_json()) == 2, timeout=5)
    assert [body["update_id"] for body, _ in receiver.accepted_json()] == [first, second]  # order kept
    info = await bot.get_webhook_info()
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
    assert info.last_error_date is not None


async def test_webhook_gives_up_and_delete_drops_pending(
    bot: Bot, fake_telegram: FakeTelegram, receiver: Receiver
) -> None:
    fake_telegram.webhook_give_up_after = 0.3
    receiver.failures = 1000
    await bot.set_webhook(receiver.url("/telegram"), secret_token=receiver.secret)
    fake_telegram.send_text(CHAT, "lost")
    fake_telegram.wait_for(lambda: fake_telegram.webhook() and fake_telegram.webhook()["last_error_message"])
    assert (await bot.get_webhook_info()).pending_update_count == 1

    async def drained() -> None:
        while (await bot.get_webhook_info()).pending_update_count:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(drained(), timeout=5)
    assert receiver.accepted_json() == []

    await bot.delete_webhook()
    fake_telegram.send_text(CHAT, "kept")
    fake_telegram.send_text(CHAT, "also kept")
    assert (await bot.get_webhook_info()).pending_update_count == 2
    assert await bot.delete_webhook(drop_pending_updates=True) is True
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count) == ("", 0)
    assert await bot.get_updates() == ()


async def test_webhook_secret_must_use_allowed_characters(bot: Bot, fake_telegram: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match=r"(?i)secret token contains unallowed characters"):
        await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="a+b/c=")


# ---------------------------------------------------------------------- waiting


async def test_wait_for_text_finds_messages_after_an_id(bot: Bot, fake: FakeTelegram) -> None:
    await bot.send_message(CHAT, "Welcome to the clinic")
    first = fake.wait_for_text(CHAT, "WELCOME")
    await bot.send_message(CHAT, "Welcome back")
    assert fake.wait_for_text(CHAT, "welcome", after=first["message_id"])["text"] == "Welcome back"


def test_wait_for_failure_dumps_the_chats(fake: FakeTelegram) -> None:
    with pytest.raises(AssertionError) as caught:
        fake.wait_for_text(CHAT, "never", timeout=0.1)
    text = str(caught.value)
    assert "no bot message containing 'never' in chat 42" in text
    assert "#1 patient: 'hello'" in text
