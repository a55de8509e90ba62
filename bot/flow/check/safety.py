"""Safety screens: each in every language, each phrase able to match, its flag and outcome sound.

A phrase is matched after normalisation (``bot.safety.normalise``), so the checks read phrases
the way the screen will: one that normalises to nothing can never match, an ask-first phrase a
definite phrase always meets first is never asked, and an everyday saying that shares no word
with the ask-first phrases never cancels anything.
"""

from __future__ import annotations

from bot.flow import model
from bot.flow.check.context import Context
from bot.flow.problems import Path, did_you_mean
from bot.safety import Screener, ScreenWords, normalise, phrase_pattern


def check_safety(ctx: Context) -> None:
    flow = ctx.flow
    flags = {f.id: f for f in flow.flags}
    named: set[str] = set()
    seen: set[str] = set()
    for i, screen in enumerate(flow.safety):
        base: Path = ("safety", i)
        if screen.id in seen:
            ctx.error((*base, "id"), f"duplicate safety screen id '{screen.id}'")
        seen.add(screen.id)
        named.add(screen.flag)
        flag = flags.get(screen.flag)
        if flag is None:
            ctx.error((*base, "flag"), f"unknown flag '{screen.flag}'" + did_you_mean(screen.flag, flags))
        elif flag.when is not None:
            ctx.error(
                (*base, "flag"),
                f"flag '{screen.flag}' has a `when`: a screen's flag is raised only by the screen, give it none",
            )
        _check_outcome(ctx, screen, base)
        for key in ("phrases", "ask_first", "ignore"):
            lists = getattr(screen, key)
            if key == "phrases" or lists:
                _check_languages(ctx, lists, (*base, key))
            for lang, phrases in lists.items():
                for j, phrase in enumerate(phrases):
                    if phrase_pattern(phrase) is None:
                        ctx.error((*base, key, lang, j), f"phrase '{phrase}' can never match: " + _why_never(phrase))
        if screen.ask_first and screen.ask is None:
            ctx.error(base, f"screen '{screen.id}' has ask_first phrases: give `ask`, the yes/no question put first")
        _check_shadowed(ctx, screen, base)
    for i, flag in enumerate(flow.flags):
        if flag.when is None and flag.id not in named:
            ctx.error(("flags", i, "id"), f"flag '{flag.id}' has no `when` and no safety screen raises it")


def _why_never(phrase: str) -> str:
    if not normalise(phrase, phrase=True).replace("*", "").strip():
        return "nothing of it is left once case, punctuation and spaces are set aside"
    return 'a `*` may only end a word ("suizid*")'


def _check_outcome(ctx: Context, screen: model.SafetyScreen, base: Path) -> None:
    if screen.text is None and screen.outcome is None:
        ctx.error(base, f"screen '{screen.id}' needs `text` to show, or an `outcome` to go to, or both")
    if screen.outcome is None:
        return
    step = ctx.steps.get(screen.outcome)
    if step is None:
        ctx.error((*base, "outcome"), f"unknown step '{screen.outcome}'" + did_you_mean(screen.outcome, ctx.steps))
    elif not isinstance(step, model.OutcomeStep):
        ctx.error((*base, "outcome"), f"'{screen.outcome}' is not an outcome: a screen can only lead to an ending")


def _check_languages(ctx: Context, lists: model.Phrases, path: Path) -> None:
    languages = ctx.flow.languages
    for lang in languages:
        if not lists.get(lang):
            ctx.error(path, f"missing the '{lang}' phrases")
    for lang in lists:
        if lang not in languages:
            ctx.error(
                (*path, lang), f"language '{lang}' is not in languages" + did_you_mean(lang, languages), at_key=True
            )


def _check_shadowed(ctx: Context, screen: model.SafetyScreen, base: Path) -> None:
    """An ask-first phrase a definite one always meets is never asked; a saying that holds no
    ask-first phrase of its language cancels nothing."""
    definite = Screener([ScreenWords(screen.id, screen.phrases)])
    for lang, phrases in screen.ask_first.items():
        for j, phrase in enumerate(phrases):
            if phrase_pattern(phrase) is not None and definite.match(phrase, lang) is not None:
                ctx.error(
                    (*base, "ask_first", lang, j),
                    f"ask-first phrase '{phrase}' is never asked: a phrase of `phrases` always matches it first",
                )
    for lang, sayings in screen.ignore.items():
        # A saying cancels an ask-first phrase it overlaps ("gone for" in "if I was gone for a
        # week"), so one that shares not a word with any of them can never cancel anything.
        asked = {w for p in screen.ask_first.get(lang, []) for w in (phrase_pattern(p) or "").split()}
        for j, saying in enumerate(sayings):
            words = (phrase_pattern(saying) or "").split()
            if words and asked.isdisjoint(words):
                ctx.error(
                    (*base, "ignore", lang, j),
                    f"saying '{saying}' shares no word with an ask-first phrase of '{lang}': it can never cancel one",
                )
