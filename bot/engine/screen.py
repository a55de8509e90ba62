"""The flow's safety screens, as the engine reads them: which one a message meets, and what then.

The matching itself is ``bot.safety`` (no flow, no engine); here a match becomes what to show:
the screen's text in the language of the words typed (or the conversation's, when those words
are in several languages), its ask-first question, and where stopping leads.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.texts import Texts
from bot.flow import model
from bot.safety import Screener, ScreenWords


@dataclass(frozen=True)
class Screened:
    """A message met a screen. ``ask_first``: ``text`` is a yes/no question, nothing is decided
    yet. Otherwise ``text`` is the screen's text (None: go straight to ``outcome``)."""

    screen: str
    flag: str
    ask_first: bool
    language: str
    text: str | None
    outcome: str | None


class Screens:
    """Every screen of one flow, compiled once."""

    def __init__(self, flow: model.Flow, texts: Texts):
        self.texts = texts
        self.by_id = {s.id: s for s in flow.safety}
        self.screener = Screener(ScreenWords(s.id, s.phrases, s.ask_first, s.ignore) for s in flow.safety)
        #: the screens' flags, in the order of the screens (raised flags keep this order)
        self.flag_order = tuple(dict.fromkeys(s.flag for s in flow.safety))
        self.languages = frozenset(flow.languages)

    def __bool__(self) -> bool:
        return bool(self.by_id)

    def read(self, text: str, language: str) -> Screened | None:
        """What ``text``, typed by someone in a ``language`` conversation, meets, if anything."""
        hit = self.screener.match(text, language)
        if hit is None:
            return None
        screen = self.by_id[hit.screen]
        # Answer in the language of the words typed: someone writing German in an English chat.
        answer_in = hit.language if hit.language in self.languages else language
        if hit.ask_first:
            return Screened(screen.id, screen.flag, True, answer_in, self._text(screen.ask, answer_in), screen.outcome)
        return Screened(screen.id, screen.flag, False, answer_in, self._text(screen.text, answer_in), screen.outcome)

    def confirmed(self, screen_id: str, language: str) -> Screened | None:
        """An ask-first question answered Yes: the screen as if its definite words were typed."""
        screen = self.by_id.get(screen_id)
        if screen is None:
            return None
        return Screened(screen.id, screen.flag, False, language, self._text(screen.text, language), screen.outcome)

    def question(self, screen_id: str, language: str) -> Screened | None:
        """The screen's ask-first question again (the person typed something that is no answer)."""
        screen = self.by_id.get(screen_id)
        if screen is None or screen.ask is None:
            return None
        return Screened(screen.id, screen.flag, True, language, self._text(screen.ask, language), screen.outcome)

    def _text(self, value: model.Text | None, language: str) -> str | None:
        return self.texts.text(value, language) if value is not None else None
