"""A message reduced to the words it says: how the safety screen reads what a person typed.

Phrases in a flow's ``safety`` section and the messages they are matched against go through the
same steps, so a phrase matches every spelling that reduces to the same words:

- case (``casefold``, so "KILL", "Kill" and "ß"/"ss" meet);
- German umlauts written as the ASCII a German keyboard-less writer uses ("töten" and "toeten"
  both become ``toeten``), then every other accent and script transliterated to ASCII by
  ``anyascii`` (é -> e, curly apostrophes -> ', full-width letters -> letters);
- contractions and short forms ("I'm", "im", "dont", "wanna", "kms") spelled out;
- punctuation and extra spaces reduced to one space;
- a word spelled out letter by letter ("k i l l") written as one word;
- a letter repeated ("diieee", "pleeease", and also "kill") written once: both sides lose their
  doubled letters, so "kil" in a phrase or "kiiill" in a message still meet.

The result is lower-case ASCII letters and digits, words separated by single spaces, with a
space at each end so whole words can be found with plain substring tests or ``(?<! )``-free
patterns.
"""

from __future__ import annotations

import re

from anyascii import anyascii

#: German umlauts as written without them: "toeten" is how "töten" is typed on a phone set to
#: English. Done before anyascii, which would write "toten" (casefold already wrote ß as "ss"), and
#: by str.replace: str.translate with a table is a Python look-up per character, ten times slower.
_UMLAUTS = (("ä", "ae"), ("ö", "oe"), ("ü", "ue"))
#: Contractions with their apostrophe, spelled out before apostrophes are dropped ("can't" would
#: otherwise meet "cant" only by the table below, "i'll" never: "ill" is a word).
_WITH_APOSTROPHE = (
    (re.compile(r"\bcan't\b"), "can not"),
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"\bain't\b"), "am not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"'m\b"), " am"),
    (re.compile(r"'re\b"), " are"),
    (re.compile(r"'ve\b"), " have"),
    (re.compile(r"'ll\b"), " will"),
    (re.compile(r"'d\b"), " would"),
)
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_NOT_PHRASE_WORD = re.compile(r"[^a-z0-9*]+")  # a phrase may end a word with * ("suizid*")
_REPEATS = re.compile(r"([a-z])\1+")
_REPEATS_OTHER = re.compile(r"([^\x00-\x7f])\1+")  # "töööten" before its ö becomes "oe"
_SPELLED_OUT = re.compile(r"(?<![a-z0-9])(?:[a-z] ){2,}[a-z](?![a-z0-9])")  # "k i l l" -> "kill"

#: Short forms typed without an apostrophe, and the chat shorthand crisis lines see (already
#: written with single letters, as ``_REPEATS`` leaves them). Only forms that are not also an
#: everyday word of English or German: "ill", "were", "hell", "well" are left alone.
_SHORT_FORMS = {
    "im": "i am",
    "ive": "i have",
    "id": "i would",
    "dont": "do not",
    "doesnt": "does not",
    "didnt": "did not",
    "cant": "can not",
    "cannot": "can not",
    "wont": "will not",
    "isnt": "is not",
    "wasnt": "was not",
    "arent": "are not",
    "aint": "am not",
    "wouldnt": "would not",
    "couldnt": "could not",
    "shouldnt": "should not",
    "havent": "have not",
    "thats": "that is",
    "whats": "what is",
    "wana": "want to",
    "gona": "going to",
    "gota": "got to",
    "u": "you",
    "ur": "your",
    "rn": "right now",
    "kms": "kil myself",
    "kmn": "kil myself now",
    "selfharm": "self harm",
    "unalive": "unalive",
    "myslef": "myself",
    "wnat": "want",
    "mysef": "myself",
    # German chat forms
    "nich": "nicht",
    "nix": "nichts",
    "gehts": "geht es",
    "gibts": "gibt es",
    "habs": "habe es",
    "mags": "mag es",
}


#: Words people split that phrases write as one ("my self"; "self harm" stays two words).
_JOINED = {"my self": "myself", "your self": "yourself"}


#: Each word as it came -> as the screen reads it (repeats collapsed, short form spelled out):
#: people reuse few words, so a dictionary look-up replaces two steps per word. Bounded, so odd
#: words typed by many people cannot grow it without end.
_WORDS: dict[str, str] = {}
_WORDS_KEPT = 20_000


def _word(word: str) -> str:
    collapsed = _REPEATS.sub(r"\1", word)
    read = _SHORT_FORMS.get(collapsed, collapsed)
    if len(_WORDS) < _WORDS_KEPT:
        _WORDS[word] = read
    return read


def normalise(text: str, phrase: bool = False) -> str:
    """``text`` as the screen reads it: `` word word ``, lower-case ASCII (see the module).

    A ``phrase`` keeps its ``*`` (a word that may go on: "suizid*" is also "suizidgedanken")."""
    text = text.casefold()
    if not text.isascii():
        # "töööten": repeats go before the umlaut becomes two letters; then every other accent,
        # script and curly apostrophe to ASCII
        text = _REPEATS_OTHER.sub(r"\1", text)
        for umlaut, spelled in _UMLAUTS:
            text = text.replace(umlaut, spelled)
        if not text.isascii():
            text = anyascii(text).lower()
    if "`" in text:
        text = text.replace("`", "'")
    if "'" in text:
        for pattern, spelled in _WITH_APOSTROPHE:
            text = pattern.sub(spelled, text)
        text = text.replace("'", "")
    text = (_NOT_PHRASE_WORD if phrase else _NOT_WORD).sub(" ", text)
    if not phrase:
        text = _SPELLED_OUT.sub(lambda m: m.group().replace(" ", ""), text)
    known = _WORDS.get
    words = [known(w) or _word(w) for w in text.split()]
    if not words:
        return " "
    text = f" {' '.join(words)} "
    if " self " in text:
        for split, joined in _JOINED.items():
            text = text.replace(f" {split} ", f" {joined} ")
    return text
