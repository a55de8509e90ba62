"""A person's copy of their answers (``bot.pdf.patient_copy``), made as it is sent.

A turn stores only the request (``ReplyOp.COPY``: which intake); the outbox asks here for the
file when its turn to go out comes, on a worker thread (a PDF takes a few hundred milliseconds
of CPU: never on the patients' event loop). Made then, from what is stored then: an intake
erased in between (/delete, retention) has no copy, and nothing is sent.
"""

from __future__ import annotations

from datetime import UTC, tzinfo

from bot.channels.telegram.replies import Document
from bot.engine import Engine, Engines
from bot.pdf.patient_copy import PatientCopy
from bot.store import Store


class Copies:
    def __init__(self, store: Store, engine: Engine | Engines, zone: tzinfo = UTC):
        self.store = store
        self.engines = engine if isinstance(engine, Engines) else Engines.single(engine)
        self.zone = zone

    def _copy(self, engine: Engine) -> PatientCopy:
        return PatientCopy(engine, self.zone)

    def make(self, chat_id: int, intake_id: int) -> Document | None:
        """The copy of ``intake_id`` for ``chat_id``; None when it is gone or another chat's."""
        with self.store.transaction(read_only=True) as tx:
            intake = tx.intake(intake_id)
            if intake is None or intake.chat_id != chat_id:
                return None
            transcript = tx.transcript(intake_id)
        copy = self.engines.part_for(intake, self._copy)  # in its own version's words
        return Document(copy.file_name(intake), copy.render(intake, transcript))
