"""Storage, and every SQL statement of the product; SQLite by default, PostgreSQL by URL.

``store.py`` (Store, Tx: intakes, a turn's rows, the outbox, erasure), ``group.py`` (the group
commit), ``driver.py`` (the per-turn statements on the driver), ``review.py``, ``accounts.py``
and ``deliveries.py`` (what the staff side and the jobs read and write), ``talks.py`` (a live
conversation with the clinic), ``schema.py`` and ``migrations/``.
"""

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
