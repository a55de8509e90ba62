"""One intake as a PDF for the patient's chart: the clinic and flow, the intake's number and
dates, the ending shown, the flags by severity, every answer by section with the question as the
patient saw it, the urgent texts shown, the whole transcript with times, and a consent receipt
(the consent text's version, when it was agreed, and a SHA-256 of the exact text shown), so the
clinic can prove what was agreed.

Made with fpdf2 (pure Python: nothing to install from the system) in DejaVu Sans, embedded from
``fonts/`` so every letter of every flow language prints the same on any machine. Patient text
goes in as text, never as markup: a typed ``<script>`` prints as those characters. Staff words
come through the staff catalogs (``words``); questions, answers and endings are in the patient's
language, with the flow's default language beside a question where the two differ.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from babel.support import NullTranslations
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from bot.engine import Engine
from bot.flow import model
from bot.staff.exports import Exporter
from bot.staff.i18n import SEVERITY_WORDS, STATUS_WORDS
from bot.staff.intake_reading import IntakeReading
from bot.store.records import as_utc
from bot.store.review import IntakeView

FONTS = Path(__file__).parent / "fonts"
FONT = "DejaVu"
#: Severities gravest first (the flags' grouping: ``SEVERITY_WORDS``'s order).
SEVERITY_ORDER = tuple(SEVERITY_WORDS)
MEDIA_TYPE = "application/pdf"


def consent_text(engine: Engine, version: str | None, lang: str) -> str | None:
    """The consent text a person agreed to, as the bot showed it in ``lang``: the consent step of
    that version (None when the flow no longer has it: the receipt then says so)."""
    for step in engine.flow.steps:
        if isinstance(step, model.ConsentStep) and str(step.version) == str(version):
            return engine.text(step.text, lang)
    return None


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _Document(FPDF):
    """A4 pages in DejaVu Sans with the intake's number and the page on each foot."""

    def __init__(self, foot: str):
        super().__init__(format="A4")
        self.foot = foot
        self.add_font(FONT, "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.set_auto_page_break(True, margin=18)
        self.set_margins(18, 18, 18)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, "", 8)
        self.set_text_color(110)
        self.cell(0, 5, f"{self.foot} · {self.page_no()}/{{nb}}", align="R")
        self.set_text_color(0)


class IntakePdf:
    """Makes an intake's PDF; ``zone`` is the clinic's (CLINIC_TIMEZONE): every time is on its clock."""

    def __init__(self, engine: Engine, exporter: Exporter, zone: tzinfo = UTC):
        self.engine = engine
        self.exporter = exporter
        self.zone = zone
        self.reading = IntakeReading(engine, exporter, self.when)

    def when(
        self, at: datetime | None, seconds: bool = False, zone: bool = True, day: bool = True, clock: bool = True
    ) -> str:
        """A stored time (UTC) on the clinic's clock, as the staff pages show it (``WebApp.when``)."""
        if at is None:
            return ""
        shape = " ".join(
            part
            for part, wanted in (("%Y-%m-%d", day), ("%H:%M:%S" if seconds else "%H:%M", clock), ("%Z", zone))
            if wanted
        )
        return as_utc(at).astimezone(self.zone).strftime(shape)

    def receipt(self, intake: Any) -> dict[str, Any] | None:
        """The consent receipt: version, when, the text shown (patient's language) and its SHA-256.
        Version and time from the conversation (``Conversation.consent``: the agreement that stands,
        given again after going back), else the intake's columns (the first agreement)."""
        given = intake.state.get("consent") or {}
        version = given.get("version") or intake.consent_version
        if not version:
            return None
        at = datetime.fromisoformat(given["at"]) if given.get("at") else intake.consented_at
        text = consent_text(self.engine, version, intake.language)
        return {
            "version": version,
            "at": at,
            "text": text,
            "sha256": sha256(text) if text is not None else None,
        }

    def render(self, view: IntakeView, words: NullTranslations) -> bytes:
        intake = view.intake
        _ = words.gettext
        flow = self.engine.flow
        lang, default = intake.language, flow.default_language
        doc = _Document(_("Intake %(id)s") % {"id": intake.id})
        doc.add_page()
        w = doc.epw  # the width between the margins: every block wraps in it

        def keep(room: float) -> None:
            """A new page unless ``room`` mm are left: a heading, a question or a line's time
            never stands alone at the foot of a page, away from what it introduces."""
            if doc.get_y() + room > doc.page_break_trigger:
                doc.add_page()

        def heading(text: str, size: int = 13) -> None:
            keep(30)
            doc.ln(3)
            doc.set_font(FONT, "B", size)
            doc.multi_cell(w, size * 0.5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            doc.ln(1)

        def para(text: str, bold: bool = False, size: int = 10, grey: bool = False) -> None:
            doc.set_font(FONT, "B" if bold else "", size)
            if grey:
                doc.set_text_color(90)
            doc.multi_cell(w, size * 0.5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            doc.set_text_color(0)

        def field(label: str, value: str) -> None:
            para(f"{label}: {value}")

        heading(self.engine.text(flow.clinic, lang), 16)
        para(self.engine.text(flow.title, lang), bold=True)
        field(_("Intake"), str(intake.id))
        version = _("version %(version)s") % {"version": intake.flow_version}
        field(_("Questionnaire"), f"{flow.id} ({version})")
        field(_("Language"), lang)
        field(_("Status"), _(STATUS_WORDS.get(intake.status, intake.status)))
        field(_("Started"), self.when(intake.created_at))
        if intake.completed_at:
            field(_("Completed"), self.when(intake.completed_at))
        if intake.outcome:
            ending = self.engine.outcome_topic(intake.outcome, lang)
            if lang != default:
                ending += f" ({self.engine.outcome_topic(intake.outcome, default)})"
            field(_("Ending shown"), ending)
        field(_("Made"), self.when(datetime.now(UTC)))

        heading(_("Flags"))
        flags = self.exporter.flags(intake)
        if not flags:
            para(_("No flags."))
        topics = self.reading.flag_names(lang)
        order = {s: i for i, s in enumerate(SEVERITY_ORDER)}
        for severity in sorted({f["severity"] for f in flags}, key=lambda s: (order.get(s, len(order)), s)):
            para(_(SEVERITY_WORDS[severity]) if severity in SEVERITY_WORDS else severity, bold=True)
            for flag in (f for f in flags if f["severity"] == severity):
                topic = topics.get(flag["id"], flag["topic"])
                para(f"• {topic}" + (f" ({flag['topic']})" if topic != flag["topic"] else ""))

        heading(_("Answers"))
        sections = self.reading.sections(intake, words, lang)
        staff_questions = {}
        if lang != default:
            staff_questions = {
                a["id"]: a["question"] for s in self.reading.sections(intake, words, default) for a in s["answers"]
            }
        for section in sections:
            keep(25)
            para(section["title"], bold=True, size=11)
            for answer in section["answers"]:
                keep(15)
                para(answer["question"], bold=True)
                if staff_questions.get(answer["id"], answer["question"]) != answer["question"]:
                    para(f"({default}: {staff_questions[answer['id']]})", size=8, grey=True)
                para(answer["answer"])
                for flag in answer["flags"]:
                    severity = (
                        _(SEVERITY_WORDS[flag["severity"]]) if flag["severity"] in SEVERITY_WORDS else flag["severity"]
                    )
                    para(f"⚑ {flag['topic']} ({severity})", size=9, grey=True)
                doc.ln(1.5)

        shown = self.exporter.urgent_shown(intake, lang)
        if shown:
            heading(_("Urgent texts shown"))
            for entry in shown:
                para(self.reading.urgent_sentence(entry, words))

        heading(_("Consent receipt"))
        receipt = self.receipt(intake)
        if receipt is None:
            para(_("No consent was given."))
        else:
            field(_("Consent text version"), str(receipt["version"]))
            field(_("Given at"), self.when(receipt["at"], seconds=True) if receipt["at"] else "?")
            if receipt["text"] is None:
                para(_("This version of the consent text is no longer in the questionnaire."))
            else:
                field(_("SHA-256 of the consent text shown (UTF-8)"), receipt["sha256"])
                para(_("The consent text shown:"), size=9, grey=True)
                para(receipt["text"], size=9)

        heading(_("Transcript"))
        for line in view.transcript:
            who = _("Patient") if line.direction == "in" else (line.sender or _("Bot"))
            keep(12)
            para(f"{self.when(line.at, seconds=True)} · {who}", bold=True, size=8)
            para(line.text or "—", size=9)  # a message without words (a sticker, say) still shows
            doc.ln(1)
        return bytes(doc.output())


__all__ = ["MEDIA_TYPE", "IntakePdf", "consent_text", "sha256"]
