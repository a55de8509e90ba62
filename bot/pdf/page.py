"""A4 pages in DejaVu Sans, and the few ways an intake's PDF writes on them (a heading, a
paragraph, a labelled field); the consent receipt both editions print.

Made with fpdf2 (pure Python: nothing to install from the system) in DejaVu Sans, embedded from
``fonts/`` so every letter of every flow language prints the same on any machine. Text goes in as
text, never as markup: a typed ``<script>`` prints as those characters.
"""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from bot.engine import Engine
from bot.flow import model

FONTS = Path(__file__).parent / "fonts"
FONT = "DejaVu"
MEDIA_TYPE = "application/pdf"


@cache
def _covered() -> frozenset[int]:
    """The characters DejaVu Sans can draw (both faces cover the same)."""
    return frozenset(TTFont(FONTS / "DejaVuSans.ttf").getBestCmap()) | {ord("\n")}


#: Marks that only shape the character before them (emoji presentation, joiners, skin tones).
_SHAPERS = frozenset({0xFE0E, 0xFE0F, 0x200D, 0x20E3, *range(0x1F3FB, 0x1F400)})


def printable(text: str) -> str:
    """``text`` as the font can draw it. The emoji the chat shows (🚨, 📄, ✏️) are decoration
    there and are left out; any other letter the font lacks (Chinese, Thai, Devanagari, ...)
    becomes "�", so a reader sees that something was written there and can look it up on the
    intake's page. Never handed to fpdf as it is: its warning about a missing glyph would quote
    what the patient wrote in the log."""
    if text.isascii():
        return text
    covered = _covered()
    kept = []
    for c in text:
        code = ord(c)
        if code in covered:
            kept.append(c)
        elif code in _SHAPERS or unicodedata.category(c) in ("So", "Sk", "Cn", "Co"):
            continue
        else:
            kept.append("\ufffd")
    return "".join(kept).strip()


def consent_text(engine: Engine, version: str | None, lang: str) -> str | None:
    """The consent text a person agreed to, as the bot showed it in ``lang``: the consent step of
    that version (None when the flow no longer has it: the receipt then says so)."""
    for step in engine.flow.steps:
        if isinstance(step, model.ConsentStep) and str(step.version) == str(version):
            return engine.text(step.text, lang)
    return None


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def receipt(engine: Engine, intake: Any) -> dict[str, Any] | None:
    """The consent receipt: version, when, the text shown (patient's language) and its SHA-256.
    Version and time from the conversation (``Conversation.consent``: the agreement that stands,
    given again after going back), else the intake's columns (the first agreement)."""
    given = intake.state.get("consent") or {}
    version = given.get("version") or intake.consent_version
    if not version:
        return None
    at = datetime.fromisoformat(given["at"]) if given.get("at") else intake.consented_at
    text = consent_text(engine, version, intake.language)
    return {"version": version, "at": at, "text": text, "sha256": sha256(text) if text is not None else None}


class Page(FPDF):
    """A4 pages with ``foot`` and the page number on each foot, and the writing on them."""

    def __init__(self, foot: str):
        super().__init__(format="A4")
        self.foot = foot
        self.add_font(FONT, "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.set_auto_page_break(True, margin=18)
        self.set_margins(18, 18, 18)
        self.add_page()

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, "", 8)
        self.set_text_color(110)
        self.cell(0, 5, f"{self.foot} · {self.page_no()}/{{nb}}", align="R")
        self.set_text_color(0)

    def keep(self, room: float) -> None:
        """A new page unless ``room`` mm are left: a heading, a question or a line's time never
        stands alone at the foot of a page, away from what it introduces."""
        if self.get_y() + room > self.page_break_trigger:
            self.add_page()

    def heading(self, text: str, size: int = 13) -> None:
        self.keep(30)
        self.ln(3)
        self.set_font(FONT, "B", size)
        self.multi_cell(self.epw, size * 0.5, printable(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1)

    def para(self, text: str, bold: bool = False, size: int = 10, grey: bool = False) -> None:
        """A paragraph wrapped between the margins (``epw``)."""
        self.set_font(FONT, "B" if bold else "", size)
        if grey:
            self.set_text_color(90)
        self.multi_cell(self.epw, size * 0.5, printable(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0)

    def field(self, label: str, value: str) -> None:
        self.para(f"{label}: {value}")

    def pdf(self) -> bytes:
        return bytes(self.output())
