"""Which safety screen a message meets: its phrases, compiled once per flow, matched per message.

A screen has three lists of phrases per language (``bot.flow.model.SafetyScreen``):

- ``phrases``: unambiguous words ("kill myself", "Suizid"): a match is a crisis, at once;
- ``ask_first``: words that usually, not always, mean it ("hurt myself", a bare "die"): a match
  gets a kind yes/no question before anything is decided;
- ``ignore``: everyday sayings that contain an ask-first phrase ("I'd die for smooth skin",
  "cut myself shaving"): they cancel an ask-first match, never a definite one, so "I want to die
  for real" is still caught.

A screen's definite phrases, in every language, are tried on every message (a German sentence
typed into an English conversation is still read), and the language of the phrase that matched
is reported, so the answer can be given in the words the person used. Ask-first and ignore
phrases are read in the conversation's language only: an ambiguous word of one language is often
an everyday word of another (English "die" is the German article). A phrase word may end in ``*`` to take any
ending ("suizid*": "suizidal", "Suizidgedanken").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.safety.normalise import normalise

Phrases = Mapping[str, Sequence[str]]  # language -> phrases


@dataclass(frozen=True)
class ScreenWords:
    """One screen's words, as the matcher needs them (the flow model stays out of this module)."""

    id: str
    phrases: Phrases
    ask_first: Phrases = None  # type: ignore[assignment]
    ignore: Phrases = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Hit:
    """A message met screen ``screen``: at once, or only to ask first; ``language``: the phrase's."""

    screen: str
    ask_first: bool
    language: str


_ANY_ENDING = "*"


def phrase_pattern(phrase: str) -> str | None:
    """One phrase as the screen compares it: its normalised words, a ``*`` only ending a word; or
    None when the phrase normalises to nothing a message could contain (only punctuation, a lone
    ``*``, a ``*`` inside a word): such a phrase can never match, and the checker says so."""
    words = normalise(phrase, phrase=True).split()
    if not words:
        return None
    for word in words:
        stem = word.removesuffix(_ANY_ENDING)
        if not stem or _ANY_ENDING in stem:
            return None
    return " ".join(words)


def _trie(phrases: set[str]) -> str:
    """The phrases as one regular expression shaped like a trie ("kil (?:myself|me)"): Python's
    ``re`` tries a plain alternation's branches one by one at every word, a trie one letter at a
    time, which keeps a long message's screen in a few microseconds per word."""
    root: dict = {}
    for phrase in phrases:
        node = root
        for char in phrase:
            node = node.setdefault(char, {})
        node[""] = {}
    return _emit(root)


def _emit(node: dict) -> str:
    branches = [
        ("[a-z0-9]*" if char == _ANY_ENDING else re.escape(char)) + _emit(child)
        for char, child in sorted(node.items())
        if char
    ]
    if not branches:
        return ""
    inner = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
    if "" in node:  # a phrase ends here, and longer ones go on
        return f"(?:{inner})?"
    return inner


def _compile(lists: Phrases | None) -> re.Pattern[str] | None:
    """One pattern for all languages: a named group per language says which one matched."""
    groups = []
    for index, phrases in enumerate((lists or {}).values()):
        alternatives = {p for p in map(phrase_pattern, phrases) if p is not None}
        if alternatives:
            groups.append(f"(?P<l{index}>{_trie(alternatives)})")
    if not groups:
        return None
    # Whole words: normalised text is " word word ", so a phrase sits between two spaces.
    return re.compile(rf"(?<= )(?:{'|'.join(groups)})(?= )")


@dataclass(frozen=True)
class _Compiled:
    id: str
    languages: tuple[str, ...]
    definite: re.Pattern[str] | None
    ask_first: dict[str, re.Pattern[str]]  # per language
    ignore: dict[str, re.Pattern[str]]


class Screener:
    """Every screen of a flow, compiled once; ``match`` reads one message."""

    def __init__(self, screens: Iterable[ScreenWords]):
        self.screens = [
            _Compiled(
                s.id,
                tuple(s.phrases),
                _compile(s.phrases),
                _per_language(s.ask_first),
                _per_language(s.ignore),
            )
            for s in screens
        ]

    def __bool__(self) -> bool:
        return bool(self.screens)

    def match(self, text: str, language: str) -> Hit | None:
        """The first screen whose definite phrases (any language) the message meets; else the
        first whose ask-first phrases in ``language`` it meets outside every everyday saying."""
        if not self.screens or not text:
            return None
        words = normalise(text)
        for screen in self.screens:
            if screen.definite is not None and (found := screen.definite.search(words)):
                return Hit(screen.id, False, screen.languages[_group(found)])
        for screen in self.screens:
            ask_first = screen.ask_first.get(language)
            if ask_first is None:
                continue
            ignore = screen.ignore.get(language)
            if ask_first.search(ignore.sub(" | ", words) if ignore is not None else words):
                return Hit(screen.id, True, language)
        return None


def _per_language(lists: Phrases | None) -> dict[str, re.Pattern[str]]:
    compiled = {language: _compile({language: phrases}) for language, phrases in (lists or {}).items()}
    return {language: pattern for language, pattern in compiled.items() if pattern is not None}


def _group(found: re.Match[str]) -> int:
    return int(found.lastgroup[1:]) if found.lastgroup else 0
