"""The engine: one transitions Machine per flow, advancing plain conversations.

``engine.py`` is the facade (operations and reading); ``parse.py`` reads typed answers,
``view.py`` says what to show, ``texts.py`` finds the words in the person's language, and
``conversation.py`` is the plain data a conversation is.
"""

from bot.engine.conversation import Conversation
from bot.engine.engine import Effect, Engine
from bot.engine.engines import Engines
from bot.engine.screen import Screened
from bot.engine.view import Ending, Option, Prompt, PromptKind, SummaryLine

__all__ = [
    "Conversation",
    "Effect",
    "Ending",
    "Engine",
    "Engines",
    "Option",
    "Prompt",
    "PromptKind",
    "Screened",
    "SummaryLine",
]
