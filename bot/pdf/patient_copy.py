"""A person's copy of their answers, as a PDF sent in the chat: the patient edition of the
chart's PDF (``bot.staff.pdf``).

What the person saw and said, in their language: the ending as it was shown, any urgent advice
given on the way, every answer by section, the consent receipt (so they can check what they
agreed to), and the conversation. What is for staff stays out: no flag, severity or staff topic
beyond the points the ending itself listed, no staff note, review, assignment or follow-up. Its
words are the flow's interface messages (``copy_*``), which a clinic may reword like any other.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from bot.clock import on_clock
from bot.engine import Conversation, Engine
from bot.flow import model
from bot.pdf.page import Page, receipt
from bot.store.records import FINISHED, Direction, Intake, TranscriptLine


class PatientCopy:
    """Makes a person's copy; ``zone`` is the clinic's (CLINIC_TIMEZONE), named beside each time."""

    def __init__(self, engine: Engine, zone: tzinfo = UTC):
        self.engine = engine
        self.zone = zone

    def file_name(self, intake: Intake) -> str:
        return f"{self.engine.message(intake.language, 'copy_file_name')}-{intake.id}.pdf"

    def render(self, intake: Intake, transcript: list[TranscriptLine], now: datetime | None = None) -> bytes:
        engine, lang = self.engine, intake.language
        flow = engine.flow

        def msg(key: str, **values: Any) -> str:
            return engine.message(lang, key, **values)

        def when(at: datetime | None, seconds: bool = False) -> str:
            return on_clock(at, self.zone, seconds)

        # The conversation as the bot would read it now: stored under an earlier edition of the
        # flow, this throwaway object is fitted first, so every step it names is one the flow has.
        stored = Conversation.from_dict(intake.state)
        conv = Conversation.from_dict(intake.state)
        engine.recover(conv, ended=intake.status in FINISHED)

        doc = Page(f"{engine.text(flow.clinic, lang)} · {msg('copy_intake')} {intake.id}")
        doc.heading(engine.text(flow.clinic, lang), 16)
        doc.para(engine.text(flow.title, lang), bold=True)
        doc.para(msg("copy_title"), size=11)
        doc.ln(2)
        doc.field(msg("copy_intake"), str(intake.id))
        doc.field(msg("copy_started"), when(intake.created_at))
        if intake.completed_at:
            doc.field(msg("copy_finished"), when(intake.completed_at))
        doc.field(msg("copy_made"), when(now or datetime.now(UTC)))
        doc.ln(2)
        doc.para(msg("copy_note"), size=9, grey=True)

        ending = self._ending(intake, conv)
        doc.heading(msg("copy_ending"))
        if intake.status not in FINISHED:
            doc.para(msg("copy_not_finished"))
        elif ending is None:  # an ending the flow no longer has: its words are gone, not the fact
            doc.para(msg("copy_ending_gone"))
        else:
            doc.para(("⚠ " if ending.urgent else "") + ending.text)
            if ending.topics:
                doc.ln(1)
                doc.para(msg("points_to_discuss"), bold=True)
                for topic in ending.topics:
                    doc.para(f"• {topic}")
            for paragraph in ending.paragraphs:
                doc.ln(1)
                doc.para(paragraph)
            doc.ln(1)
            doc.para(ending.consultation, bold=True)

        earlier = [r for r in conv.urgent_shown if r.get("outcome") != (ending.id if ending else None)]
        if earlier:
            doc.heading(msg("copy_urgent"))
            for record in earlier:
                step = engine.steps.get(record.get("outcome", ""))
                if isinstance(step, model.OutcomeStep):
                    at = datetime.fromisoformat(record["at"]) if record.get("at") else None
                    doc.para(when(at), bold=True, size=9)
                    doc.para(engine.text(step.text, lang))
                    doc.ln(1)

        doc.heading(msg("copy_answers"))
        titles = {s.id: engine.text(s.title, lang) for s in flow.sections}
        section: str | None = None
        for line in engine.summary(conv):
            here = getattr(engine.steps[line.step_id], "section", None) or ""
            if here != section:
                section = here
                doc.keep(25)
                doc.ln(1)
                doc.para(titles.get(here) or msg("copy_other"), bold=True, size=11)
            doc.keep(15)
            doc.para(line.question, bold=True)
            doc.para(line.answer)
            doc.ln(1.5)
        aside = {**(stored.aside or {}), **(conv.aside or {})}
        if aside:  # answers the questionnaire no longer asks for, as they were given
            doc.keep(25)
            doc.ln(1)
            doc.para(msg("copy_aside"), bold=True, size=11)
            for step_id, value in aside.items():
                step = engine.steps.get(step_id)
                ask = getattr(step, "ask", None)
                doc.keep(15)
                doc.para(engine.text(ask, lang) if ask is not None else step_id, bold=True)
                doc.para(", ".join(map(str, value)) if isinstance(value, list) else str(value))
                doc.ln(1.5)

        doc.heading(msg("copy_consent"))
        given = receipt(engine, intake)
        if given is None:
            doc.para(msg("copy_no_consent"))
        else:
            doc.field(msg("copy_consent_version"), str(given["version"]))
            doc.field(msg("copy_consent_at"), when(given["at"], seconds=True) if given["at"] else "?")
            if given["text"] is None:
                doc.para(msg("copy_consent_gone"))
            else:
                doc.field(msg("copy_consent_hash"), given["sha256"])
                doc.para(msg("copy_consent_text"), size=9, grey=True)
                doc.para(given["text"], size=9)

        doc.heading(msg("copy_messages"))
        clinic = engine.text(flow.clinic, lang)
        for line in transcript:
            if line.direction == Direction.OUT.value and (line.sent_at is None or line.kind == "copy"):
                continue  # never reached the person, or a copy like this one (a file, not words)
            # The clinic's name for every reply, a staff member's too: their message carries the
            # signature the person read, and the stored sender may be a login name nobody saw.
            who = msg("copy_you") if line.direction == Direction.IN.value else clinic
            doc.keep(12)
            doc.para(f"{when(line.at, seconds=True)} · {who}", bold=True, size=8)
            doc.para(line.text or "—", size=9)
            doc.ln(1)
        return doc.pdf()

    def _ending(self, intake: Intake, conv: Conversation) -> Any:
        """The ending as the person was shown it (None before one, or when the flow lost it)."""
        if intake.status not in FINISHED or not self.engine.finished(conv):
            return None
        if not isinstance(self.engine.steps.get(conv.state), model.OutcomeStep):
            return None  # an ending the flow no longer has
        return self.engine.view(conv).ending
