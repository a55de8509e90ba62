"""Turns and transcript rows made the way production makes them, for tests that need one.

The channel runs every turn as one caller of a group commit (``bot.store.group``); so do these.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from bot.channels.telegram.events import Chat, Event
from bot.channels.telegram.runner import TurnRunner
from bot.channels.telegram.turn import TurnResult
from bot.store import Duplicate, Outgoing, Tx
from bot.store.group import GroupCommit


async def apply_async(runner: TurnRunner, update_id: int | None, chat: Chat, event: Event) -> TurnResult:
    """One update applied as the channel applies it: in a group commit (a redelivery: duplicate)."""
    try:
        return await GroupCommit(runner.store).run(lambda tx: runner.apply_in(tx, update_id, chat, event))
    except Duplicate:
        return TurnResult(duplicate=True)


def apply(runner: TurnRunner, update_id: int | None, chat: Chat, event: Event) -> TurnResult:
    """``apply_async`` for a test without an event loop of its own."""
    return asyncio.run(apply_async(runner, update_id, chat, event))


def remind(runner: TurnRunner, intake_id: int, quiet_since: datetime) -> TurnResult:
    """One reminder round for one intake, as the channel's ``remind`` runs it."""

    async def once() -> TurnResult:
        return await GroupCommit(runner.store).run(lambda tx: runner.remind_in(tx, intake_id, quiet_since))

    return asyncio.run(once())


def record_in(tx: Tx, intake_id: int, chat_id: int, update_id: int | None, text: str, at: datetime, kind: str = "text"):
    """The patient's input alone (Tx.record_turn with no reply), its update claimed first as a turn
    claims it (bot 0, one fingerprint for all); raises Duplicate for a redelivery."""
    if update_id is not None:
        tx.claim_update(0, update_id, 1, at)
    tx.record_turn(intake_id, chat_id, update_id, text, kind, [], at)


def add_out(tx: Tx, intake_id: int, chat_id: int, payload: dict[str, Any], at: datetime) -> Outgoing:
    """A reply alone into the transcript and the outbox (Tx.record_turn with no input)."""
    return tx.record_turn(intake_id, chat_id, None, None, "text", [payload], at)[0]


def mark_sent(tx: Tx, row_id: int, telegram_message_id: int | None, at: datetime) -> None:
    tx.mark_all_sent([(row_id, telegram_message_id, at)])
