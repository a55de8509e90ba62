"""What a person typed is made safe once, at the edge, and an answer with nothing visible is re-asked.

Found by 3,500 random patient messages: answers made only of invisible characters were stored
and reached staff pages and exports, control characters too, and a NUL byte failed the turn on
PostgreSQL three times before the apology.
"""

from __future__ import annotations

import pytest
from telegram import Update

from bot.channels.telegram.updates import parse_update
from bot.channels.typed_text import clean
from bot.engine import Engine
from bot.flow import model


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("\x1b[31mred\x1b[0m", "[31mred[0m"),  # a terminal escape loses its ESC
        ("nul\x00byte", "nulbyte"),  # PostgreSQL refuses a NUL in text
        ("\u202eevil", "evil"),  # a right-to-left override
        ("\u061cmark", "mark"),  # an Arabic letter mark
        ("Cafe\u0301", "Café"),  # NFC: one spelling of é
        ("two\nlines\tand a tab", "two\nlines\tand a tab"),  # line breaks and tabs stay
        ("👩\u200d⚕️ emoji", "👩\u200d⚕️ emoji"),  # a joiner inside an emoji stays
    ],
)
def test_typed_text_is_cleaned_once(typed: str, kept: str) -> None:
    assert clean(typed) == kept


def test_telegram_text_reaches_the_turn_cleaned() -> None:
    update = Update.de_json(
        {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 5, "type": "private"},
                "from": {"id": 5, "is_bot": False, "first_name": "Pat"},
                "text": "I take\x00 aspirin\u202e",
            },
        },
        None,
    )
    _, event = parse_update(update)
    assert event.text == "I take aspirin"


def _at(engine: Engine, kind: type, optional: bool | None = None):
    conv = engine.start(engine.flow.default_language)
    step = next(
        s
        for s in engine.flow.steps
        if isinstance(s, kind) and (optional is None or getattr(s, "optional", False) == optional)
    )
    engine.machine.set_state(step.id, model=conv)
    return conv, step


@pytest.mark.parametrize("lang", ["en", "de"])
@pytest.mark.parametrize("invisible", ["\u200b", "\u200b\u200d \u2060", "\ufeff"])
def test_an_answer_with_nothing_visible_is_asked_again_never_stored(skin: Engine, lang: str, invisible: str) -> None:
    for optional in (False, True):
        conv, step = _at(skin, model.TextQuestion, optional)
        conv.language = lang
        effect = skin.reply(conv, invisible)
        assert not effect.accepted and step.id not in conv.answers, (step.id, optional)
        # asked again as for an empty answer (in the question's own re-ask words where it has them)
        expected = skin.text(step.reask, lang) if step.reask is not None else skin.message(lang, "text_empty")
        assert effect.error == expected
    conv, step = _at(skin, model.SingleQuestion)
    effect = skin.reply(conv, invisible)
    assert not effect.accepted and step.id not in conv.answers
