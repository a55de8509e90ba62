"""The safety screen: every typed message read for crisis words before anything else happens.

``normalise`` reduces a message to its words; ``screen`` compiles a flow's screens once and
says which one a message meets. Pure: no I/O, no flow model, no engine.
"""

from bot.safety.normalise import normalise
from bot.safety.screen import Hit, Screener, ScreenWords, phrase_pattern

__all__ = ["Hit", "ScreenWords", "Screener", "normalise", "phrase_pattern"]
