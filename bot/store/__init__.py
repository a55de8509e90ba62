"""Storage: intakes (conversation state), transcripts and the outbox; SQLite or PostgreSQL."""

from bot.store.records import FINISHED, Direction, Intake, IntakeStatus, Outgoing, TranscriptLine, as_utc, utcnow
from bot.store.store import Duplicate, Stale, Store, StoreError, Tx

__all__ = [
    "FINISHED",
    "Direction",
    "Duplicate",
    "Intake",
    "IntakeStatus",
    "Outgoing",
    "Stale",
    "Store",
    "StoreError",
    "TranscriptLine",
    "Tx",
    "as_utc",
    "utcnow",
]
