"""One intake as a PDF for the patient's chart: the clinic and flow, the intake's number and
dates, the ending shown, the flags by severity, every answer by section with the question as the
patient saw it, the urgent texts shown, the whole transcript with times, and a consent receipt
(the consent text's version, when it was agreed, and a SHA-256 of the exact text shown), so the
clinic can prove what was agreed.

The page and its writing are ``bot.pdf.page``'s (fpdf2, DejaVu Sans embedded). Staff words come
through the staff catalogs (``words``); questions, answers and endings are in the patient's
language, with the flow's default language beside a question where the two differ.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from babel.support import NullTranslations

from bot.clock import on_clock
from bot.engine import Engine
from bot.pdf.page import MEDIA_TYPE, Page, consent_text, receipt, sha256
from bot.staff.exports import Exporter
from bot.staff.i18n import SEVERITY_WORDS, STATUS_WORDS
from bot.staff.intake_reading import IntakeReading
from bot.store.review import IntakeView

#: Severities gravest first (the flags' grouping: ``SEVERITY_WORDS``'s order).
SEVERITY_ORDER = tuple(SEVERITY_WORDS)


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
        return on_clock(at, self.zone, seconds, zone, day, clock)

    def receipt(self, intake: Any) -> dict[str, Any] | None:
        return receipt(self.engine, intake)

    def render(self, view: IntakeView, words: NullTranslations) -> bytes:
        intake = view.intake
        _ = words.gettext
        flow = self.engine.flow
        lang, default = intake.language, flow.default_language
        doc = Page(_("Intake %(id)s") % {"id": intake.id})
        keep, heading, para, field = doc.keep, doc.heading, doc.para, doc.field

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
        staff_questions, staff_titles = {}, {}
        if lang != default:
            in_default = self.reading.sections(intake, words, default)
            staff_questions = {a["id"]: a["question"] for s in in_default for a in s["answers"]}
            staff_titles = {s["id"]: s["title"] for s in in_default}
        for section in sections:
            keep(25)
            title = section["title"]
            if staff_titles.get(section["id"], title) != title:
                title += f" ({default}: {staff_titles[section['id']]})"
            para(title, bold=True, size=11)
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
            if line.kind == "copy":  # a file, not words: say what it was and whether it went
                sent = line.sent_at is not None
                para(
                    _("A PDF copy of the answers, sent to the patient at their request")
                    if sent
                    else _("A PDF copy of the answers the patient asked for (not sent)"),
                    size=9,
                )
            else:
                para(line.text or "—", size=9)  # a message without words (a sticker, say) still shows
            doc.ln(1)
        return doc.pdf()


__all__ = ["MEDIA_TYPE", "IntakePdf", "consent_text", "sha256"]
