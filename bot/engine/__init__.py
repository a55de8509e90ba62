"""The engine: one transitions Machine per flow, advancing plain conversations (see ``engine.py``)."""

from bot.engine.conversation import Conversation
from bot.engine.engine import Effect, Ending, Engine, Option, Prompt, SummaryLine

__all__ = ["Conversation", "Effect", "Ending", "Engine", "Option", "Prompt", "SummaryLine"]
