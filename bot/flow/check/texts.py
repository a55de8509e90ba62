"""Every text: in every language, known placeholders only, short enough for a chat message or a
button (or, for an ending's staff ``topic``, a list cell), and no diagnostic or verdict wording
where a patient reads it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from bot.flow import booking, model, wording
from bot.flow.check.context import Context
from bot.flow.messages import DEFAULT_MESSAGES, placeholders
from bot.flow.problems import Path, did_you_mean

FLOW_PLACEHOLDERS = frozenset({"clinic", "booking_link"})
#: A recap sentence (``Flow.recap``) repeats one answer.
RECAP_PLACEHOLDERS = FLOW_PLACEHOLDERS | {"answer"}
MAX_TEXT = 3500  # leaves room in Telegram's 4,096 characters for hints, choices and corrections
MAX_LABEL = 60  # longer button labels are cut off on a phone
MAX_TOPIC = 80  # an ending's topic names it in a list cell or a filter's menu
_MAY_USE = "texts may use {clinic} and {booking_link}"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def texts(ctx: Context) -> Iterator[tuple[Path, Any, bool]]:
    """Every text of the flow: (path, value, whether a patient sees it)."""
    flow = ctx.flow
    yield ("title",), flow.title, True
    yield ("clinic",), flow.clinic, True
    if flow.what_to_expect is not None:
        yield ("what_to_expect",), flow.what_to_expect, True
    for i, section in enumerate(flow.sections):
        yield ("sections", i, "title"), section.title, False
    for i, step in enumerate(flow.steps):
        base: Path = ("steps", i)
        for key in ("ask", "hint", "reask", "unit", "text", "agree", "decline", "consultation"):
            value = getattr(step, key, None)
            if value is not None:
                yield (*base, key), value, True
        if isinstance(step, model.OutcomeStep) and step.topic is not None:
            yield (*base, "topic"), step.topic, False  # staff read it; the patient never does
        for j, paragraph in enumerate(getattr(step, "paragraphs", [])):
            yield (*base, "paragraphs", j, "text"), paragraph.text, True
        for j, choice in enumerate(getattr(step, "choices", [])):
            yield (*base, "choices", j, "label"), choice.label, True
        for j, point in enumerate(getattr(step, "points", [])):
            yield (*base, "points", j, "label"), point.label, True
    for i, flag in enumerate(flow.flags):
        yield ("flags", i, "topic"), flag.topic, not flag.staff_only  # endings list topics to the patient
        if flag.ask_before_change is not None:
            yield ("flags", i, "ask_before_change"), flag.ask_before_change, True
    for i, screen in enumerate(flow.safety):
        for key in ("ask", "text"):
            value = getattr(screen, key)
            if value is not None:
                yield ("safety", i, key), value, True
    for i, line in enumerate(flow.recap):
        yield ("recap", i, "text"), line.text, True
    for i, reply in enumerate(flow.talk.saved_replies if flow.talk is not None else ()):
        yield ("talk", "saved_replies", i, "label"), reply.label, False  # a button for staff
        yield ("talk", "saved_replies", i, "text"), reply.text, True


def check_texts(ctx: Context) -> None:
    languages = ctx.flow.languages
    for path, value, patient_sees in texts(ctx):
        if isinstance(value, str):
            if len(languages) > 1 and path != ("clinic",):
                ctx.error(path, "give this text in every language: " + ", ".join(languages))
            by_language = dict.fromkeys(languages, value)
        else:
            for lang in languages:
                if lang not in value:
                    ctx.error(path, f"missing the '{lang}' text")
            for lang in value:
                if lang not in languages:
                    ctx.error(
                        (*path, lang),
                        f"language '{lang}' is not in languages" + did_you_mean(lang, languages),
                        at_key=True,
                    )
            by_language = value
        for lang, text in by_language.items():
            where = path if isinstance(value, str) else (*path, lang)
            check_one_text(ctx, where, text, lang, patient_sees, path[-1] in ("label",))
    check_outcome_topics(ctx)


def check_outcome_topics(ctx: Context) -> None:
    """An ending's ``topic`` is its name for staff: short, and no two endings share one (a filter
    or an export could not tell them apart)."""
    seen: dict[tuple[str, str], str] = {}
    for i, step in enumerate(ctx.flow.steps):
        if not isinstance(step, model.OutcomeStep) or step.topic is None:
            continue
        by_language = step.topic if isinstance(step.topic, dict) else dict.fromkeys(ctx.flow.languages, step.topic)
        for lang, text in by_language.items():
            where: Path = ("steps", i, "topic") if isinstance(step.topic, str) else ("steps", i, "topic", lang)
            if len(text) > MAX_TOPIC:
                ctx.error(
                    where, f"an ending's topic is a few words for staff: {len(text)} characters (at most {MAX_TOPIC})"
                )
            key = (lang, text.strip().casefold())
            if key in seen:
                ctx.error(
                    where, f"the ending '{seen[key]}' has this topic too ({lang}): staff could not tell them apart"
                )
            else:
                seen[key] = step.id


def check_one_text(ctx: Context, path: Path, text: str, lang: str, patient_sees: bool, is_label: bool) -> None:
    allowed = RECAP_PLACEHOLDERS if path[0] == "recap" else FLOW_PLACEHOLDERS
    for name in _PLACEHOLDER.findall(text):
        if name not in allowed:
            ctx.error(
                path,
                f"unknown placeholder '{{{name}}}'; "
                + ("a recap may use {clinic}, {booking_link} and {answer}" if path[0] == "recap" else _MAY_USE)
                + did_you_mean(name, allowed),
            )
    if path[0] == "recap" and "{answer}" not in text:
        ctx.error(path, "a recap sentence repeats an answer: put {answer} where it goes")
    if len(text) > MAX_TEXT:
        ctx.error(path, f"text too long for one chat message: {len(text)} characters (at most {MAX_TEXT})")
    if is_label and len(text) > MAX_LABEL:
        ctx.error(path, f"button label too long: {len(text)} characters (at most {MAX_LABEL})")
    if patient_sees:
        for reason in wording.verdicts(text, lang):
            ctx.error(path, f"diagnostic or verdict wording ({lang}): {reason}")


def check_bookings(ctx: Context) -> None:
    """The flow's booking link and each ending's own: the placeholders of their prefill known,
    the person's name only where the flow shares it, and the link itself a plain page."""
    places: list[tuple[Path, str | model.Booking]] = [(("booking_link",), ctx.flow.booking_link)]
    for i, step in enumerate(ctx.flow.steps):
        if isinstance(step, model.OutcomeStep) and step.booking not in ("none", "flow"):
            places.append((("steps", i, "booking"), step.booking))
    for path, value in places:
        for within, message in booking.problems(value):
            ctx.error((*path, *within), message)


#: Interface messages Telegram holds to a size or a shape: a button's label, a file's caption
#: (1,024 characters, not a message's 4,096) and a file's name.
BUTTON_MESSAGES = frozenset({"booking", "copy_button", "continue", "skip", "back", "done", "confirm"})
MAX_CAPTION = 1024
_FILE_NAME = re.compile(r"^[\w.-]{1,40}$")


def check_message_shape(ctx: Context, where: Path, key: str, text: str) -> None:
    if key in BUTTON_MESSAGES and len(text) > MAX_LABEL:
        ctx.error(where, f"button label too long: {len(text)} characters (at most {MAX_LABEL})")
    if key == "copy_caption":
        clinic = ctx.flow.clinic
        longest = max((len(c) for c in clinic.values()), default=0) if isinstance(clinic, dict) else len(clinic)
        length = len(text.replace("{clinic}", "x" * longest))
        if length > MAX_CAPTION:
            ctx.error(where, f"a file's caption is at most {MAX_CAPTION} characters on Telegram (this one: {length})")
    if key == "copy_file_name" and not _FILE_NAME.match(text):
        ctx.error(where, "a file name: up to 40 letters, digits, '.', '-' and '_' (no spaces or slashes)")


def check_messages(ctx: Context) -> None:
    for key, value in ctx.flow.messages.items():
        path: Path = ("messages", key)
        if key not in DEFAULT_MESSAGES["en"]:
            ctx.error(path, f"unknown message '{key}'" + did_you_mean(key, DEFAULT_MESSAGES["en"]), at_key=True)
            continue
        allowed = placeholders(DEFAULT_MESSAGES["en"][key])
        items = [(path, value)] if isinstance(value, str) else [((*path, k), v) for k, v in value.items()]
        for where, text in items:
            for name in _PLACEHOLDER.findall(text):
                if name not in allowed:
                    shown = ", ".join("{" + a + "}" for a in sorted(allowed)) or "none"
                    ctx.error(where, f"unknown placeholder '{{{name}}}' in message '{key}' (allowed: {shown})")
            check_message_shape(ctx, where, key, text)
        if isinstance(value, dict):
            for lang in ctx.flow.languages:
                if lang not in value:
                    ctx.error(path, f"missing the '{lang}' text")
            for lang in value:
                if lang not in ctx.flow.languages:
                    ctx.error((*path, lang), f"language '{lang}' is not in languages", at_key=True)
    for i, lang in enumerate(ctx.flow.languages):
        if lang in DEFAULT_MESSAGES:
            continue
        missing = [
            k
            for k in DEFAULT_MESSAGES["en"]
            if not (isinstance(v := ctx.flow.messages.get(k), str) or (isinstance(v, dict) and lang in v))
        ]
        if missing:
            ctx.error(
                ("languages", i),
                f"no built-in interface messages for '{lang}': add them under messages: "
                f"({len(missing)} missing, first '{missing[0]}')",
            )
