"""What a person typed, made safe to keep, once, where it enters the product.

Unicode NFC (one spelling of "é", whichever keyboard typed it); control characters removed
(a terminal escape, a NUL byte PostgreSQL refuses) except line breaks and tabs; and the
characters that only steer the direction of text (a right-to-left override, an Arabic letter
mark), which could make a stored answer read differently from what it holds. Whether anything
visible is left is for the engine to say (``bot.engine.parse``).
"""

from __future__ import annotations

import re
import unicodedata

#: Control characters (Unicode's Cc: U+0000-U+001F and U+007F-U+009F) but line break and tab, and
#: the explicit direction marks, embeddings, overrides and isolates. One regular expression, so a
#: long message costs one pass in C, not a Python call per character.
_REMOVED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    return _REMOVED.sub("", unicodedata.normalize("NFC", text))
