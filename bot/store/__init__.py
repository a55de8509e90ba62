"""Storage: intakes (conversation state), transcripts and the outbox; SQLite or PostgreSQL."""

from bot.store.store import Duplicate, Intake, Outgoing, Store, StoreError, TranscriptLine, Tx, as_utc, utcnow

__all__ = ["Duplicate", "Intake", "Outgoing", "Store", "StoreError", "TranscriptLine", "Tx", "as_utc", "utcnow"]
