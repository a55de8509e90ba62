"""Telegram's limits: 4,096 characters a message, 64 bytes of callback data, about 1 message/s a chat."""

from __future__ import annotations

from bot.channels.telegram import render
from bot.channels.telegram.outbox import ChatPacer
from bot.engine import Engine


def test_long_texts_are_split_at_paragraphs_within_the_limit() -> None:
    text = "\n\n".join(f"Paragraph {i} " + "word " * 150 for i in range(12))
    chunks = render.split_text(text)
    assert len(chunks) > 1 and all(len(c) <= render.MAX_TEXT for c in chunks)
    assert all(c.startswith("Paragraph") for c in chunks)
    assert " ".join(chunks).split() == text.split()
    assert render.split_text("x" * 9000) == ["x" * 4096, "x" * 4096, "x" * 808]


def test_callback_data_stay_within_64_bytes_for_every_button_of_the_default_flow(skin: Engine) -> None:
    renderer = render.Renderer(skin)
    for lang in skin.flow.languages:
        conv = skin.start(lang)
        conv.revision = 10**9  # a long-lived conversation
        for step in skin.flow.steps:
            skin.machine.set_state(step.id, model=conv)
            for row in renderer.keyboard(skin.view(conv), 10**12, lang):
                for button in row:
                    assert len(button.get("data", "").encode()) <= render.MAX_CALLBACK_BYTES
                    assert 0 < len(button["text"]) <= 64


def test_callback_data_round_trip_and_junk_is_refused() -> None:
    data = render.callback(12, 7, render.Action.CHOOSE, "from_18_to_64")
    assert render.parse_callback(data) == render.Press(12, 7, render.Action.CHOOSE, "from_18_to_64")
    for junk in (None, "", "x", "1.2", "a.b.c", "1..c", "12.x.c", "1.2.q"):
        assert render.parse_callback(junk) is None


def test_the_pacer_allows_a_short_burst_then_one_message_a_second_per_chat() -> None:
    now = [0.0]
    pacer = ChatPacer(rate=1.0, burst=3, clock=lambda: now[0])
    assert [pacer.delay(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pacer.delay(1) == 1.0 and pacer.delay(1) == 2.0  # queued behind each other
    assert pacer.delay(2) == 0.0  # other chats are not held up
    now[0] = 10.0
    assert pacer.delay(1) == 0.0  # refilled after a quiet spell


# --- edits that change nothing are not sent -----------------------------------------------------


def test_an_edit_that_would_leave_a_message_as_it_is_is_known_to_change_nothing() -> None:
    """Telegram refuses such an edit ("message is not modified"): 311 of them under random input."""
    from bot.channels.telegram.shown import ShownMessages

    shown = ShownMessages(remembered=2)
    keyboard = [[{"text": "Yes", "data": "1.0.c.yes"}]]
    question = render.send("Pregnant?", keyboard)
    assert shown.changes(1, 10, render.edit_keyboard(None))  # unknown: edited as before
    shown.record(1, 10, question)
    assert not shown.changes(1, 10, render.edit_keyboard(keyboard))
    assert shown.changes(2, 10, render.edit_keyboard(keyboard))  # message ids are per chat
    assert shown.changes(1, 10, render.edit_keyboard(None))
    shown.record(1, 10, render.edit_keyboard(None))  # the buttons taken off...
    assert not shown.changes(1, 10, render.edit_keyboard(None))  # ...a second time changes nothing
    assert shown.changes(1, 10, render.edit("Pregnant?\n✓ Yes"))
    shown.record(1, 10, render.edit("Pregnant?\n✓ Yes"))
    assert not shown.changes(1, 10, render.edit("Pregnant?\n✓ Yes"))
    assert not shown.changes(1, 10, render.edit_keyboard(None))
    shown.record(1, 11, question)
    shown.record(1, 12, question)  # the oldest is forgotten: edited as before
    assert len(shown) == 2 and shown.changes(1, 10, render.edit_keyboard(None))


def test_a_chat_in_trouble_is_told_once_per_outage_and_forgotten_after_a_quiet_minute() -> None:
    from bot.channels.telegram.outage import FORGOTTEN_AFTER, WAIT_NOTICE_AFTER, Outages

    now = [100.0]
    outages = Outages(clock=lambda: now[0])
    assert not outages.failed(7) and outages.in_trouble(7)  # a blip: nothing said yet
    now[0] += WAIT_NOTICE_AFTER
    assert outages.failed(7)  # the first failure after the wait: tell them
    now[0] += 1
    assert not outages.failed(7)  # once
    now[0] += FORGOTTEN_AFTER + 1
    assert not outages.in_trouble(7) and len(outages) == 0  # quiet for a minute: forgotten
    assert not outages.failed(7)  # another outage begins...
    now[0] += WAIT_NOTICE_AFTER
    assert outages.failed(7)  # ...with its own notice
    outages.cleared(7)
    assert not outages.in_trouble(7)
