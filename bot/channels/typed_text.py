"""What a person typed, made safe to keep, once, where it enters the product.

Unicode NFC (one spelling of "é", whichever keyboard typed it); control characters removed
(a terminal escape, a NUL byte PostgreSQL refuses) except line breaks and tabs; and the
characters that only steer the direction of text (a right-to-left override, an Arabic letter
mark), which could make a stored answer read differently from what it holds. Whether anything
visible is left is for the engine to say (``bot.engine.parse``).
"""

from __future__ import annotations

import unicodedata

#: Explicit direction marks, embeddings, overrides and isolates (Unicode's bidi controls).
_DIRECTION = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_KEPT_CONTROLS = frozenset("\n\t")


def clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    return "".join(
        ch for ch in text if ch in _KEPT_CONTROLS or (unicodedata.category(ch) != "Cc" and ch not in _DIRECTION)
    )
