"""A conversation stored under an earlier edition of the flow, made to fit the one running now.

A flow can be edited between restarts while intakes are in flight: a step taken out, a question
retyped (single choice -> number), a choice removed. Nothing a conversation stored then may crash
a turn, nor strand the person. ``fitting`` says whether a stored conversation needs any repair (the
check every conversation read from the store passes through, so it is cheap); ``set_aside`` moves
the answers the flow cannot read out of the engine's way, into ``Conversation.aside`` (no
condition or flag reads them there; staff still see them, marked), and keeps the path to steps the
flow still has, in its order. Where the person goes on is ``Engine.recover``'s call: it needs the
machine.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from bot.engine.conversation import Conversation
from bot.flow import model
from bot.flow.graph import answerable, fits, option_ids


def fitting(conv: Conversation, steps: Mapping[str, Any], order: Mapping[str, int], flags: Collection[str]) -> bool:
    """Whether the flow knows everything ``conv`` holds: its step, every answer (of a type and
    among choices the step still has), every step of its path (in the flow's order), every flag,
    and every ticked choice of a selection in progress."""
    step = steps.get(conv.state)
    if step is None:
        return False
    if not all(fits(steps.get(question), value) for question, value in conv.answers.items()):
        return False
    last = -1
    for step_id in conv.path:
        position = order.get(step_id, -1)
        if position <= last:
            return False
        last = position
    if not all(flag in flags for flag in conv.flags):
        return False
    return conv.draft is None or (isinstance(step, model.MultiQuestion) and _ticked_fit(conv.draft, step))


def set_aside(conv: Conversation, steps: Mapping[str, Any], order: Mapping[str, int]) -> None:
    """Move the answers the flow cannot read into ``conv.aside``, and keep the path and a selection
    in progress to what the flow still has (the place and the flags are the engine's to settle)."""
    unfit = {question: value for question, value in conv.answers.items() if not fits(steps.get(question), value)}
    for question in unfit:
        del conv.answers[question]
    kept = {question: value for question, value in unfit.items() if value is not None}  # a skip says nothing
    if kept:
        conv.aside = (conv.aside or {}) | kept
    conv.path[:] = sorted(
        (s for s in conv.path if s in order and (s in conv.answers or not answerable(steps[s]))),
        key=order.__getitem__,
    )
    step = steps.get(conv.state)
    if conv.draft is not None:
        conv.draft = [c for c in conv.draft if c in option_ids(step)] if isinstance(step, model.MultiQuestion) else None


def _ticked_fit(draft: list[str], step: model.MultiQuestion) -> bool:
    choices = option_ids(step)
    return all(choice in choices for choice in draft)
