"""The steps in order: consent before any question, one summary after them, sane limits, every
ending recommending a consultation, and an outcome at the end of every path."""

from __future__ import annotations

from bot.flow import model, wording
from bot.flow.check.context import Context
from bot.flow.problems import Path, did_you_mean


def check_steps(ctx: Context) -> None:
    steps = ctx.flow.steps
    consent = [i for i, s in enumerate(steps) if isinstance(s, model.ConsentStep)]
    first_question = next((i for i, s in enumerate(steps) if isinstance(s, model.QUESTION_TYPES)), None)
    if not consent:
        ctx.error(("steps",), "the flow needs a consent step (kind: consent) before its first question")
    for extra in consent[1:]:
        ctx.error(("steps", extra, "kind"), "only one consent step is allowed")
    if consent and first_question is not None and first_question < consent[0]:
        ctx.error(
            ("steps", first_question),
            f"question '{steps[first_question].id}' comes before the consent step: ask for consent first",
        )
    if consent and steps[consent[0]].when is not None:
        ctx.error(("steps", consent[0], "when"), "the consent step is always shown: remove `when`")
    if steps[0].when is not None:
        ctx.error(("steps", 0, "when"), "the first step is always shown: remove `when`")
    summaries = [i for i, s in enumerate(steps) if isinstance(s, model.SummaryStep)]
    for extra in summaries[1:]:
        ctx.error(("steps", extra, "kind"), "only one summary step is allowed")
    if summaries:
        for i in range(summaries[0] + 1, len(steps)):
            if isinstance(steps[i], model.QUESTION_TYPES):
                ctx.error(("steps", i), f"question '{steps[i].id}' comes after the summary; move it before")
    section_ids = {s.id for s in ctx.flow.sections}
    for i, step in enumerate(steps):
        base: Path = ("steps", i)
        section = getattr(step, "section", None)
        if section is not None and section not in section_ids:
            ctx.error((*base, "section"), f"unknown section '{section}'" + did_you_mean(section, section_ids))
        if isinstance(step, model.MultiQuestion):
            n = len(step.choices)
            if step.max_selected is not None and step.max_selected < step.min_selected:
                ctx.error((*base, "max_selected"), "max_selected is smaller than min_selected")
            if step.max_selected is not None and step.max_selected > n:
                ctx.error((*base, "max_selected"), f"max_selected is larger than the {n} choices")
            if step.min_selected > n:
                ctx.error((*base, "min_selected"), f"min_selected is larger than the {n} choices")
            if step.optional and step.min_selected == 0:
                ctx.error((*base, "optional"), "min_selected: 0 already makes the question skippable")
        if isinstance(step, model.NumberQuestion):
            if step.min is not None and step.max is not None and step.min > step.max:
                ctx.error((*base, "max"), "max is smaller than min")
            if step.integer:
                for key in ("min", "max"):
                    v = getattr(step, key)
                    if v is not None and v != int(v):
                        ctx.error((*base, key), f"{key} must be a whole number for an integer question")
        if isinstance(step, model.ScaleQuestion):
            values = [p.value for p in step.points]
            if values != sorted(values):
                ctx.error((*base, "points"), "scale points must be listed from the lowest value to the highest")
        if isinstance(step, model.OutcomeStep):
            texts = (
                step.consultation
                if isinstance(step.consultation, dict)
                else dict.fromkeys(ctx.flow.languages, step.consultation)
            )
            for lang, text in texts.items():
                if wording.recommends_consultation(text, lang) is False:
                    where = (
                        (*base, "consultation") if isinstance(step.consultation, str) else (*base, "consultation", lang)
                    )
                    ctx.error(
                        where,
                        f"every ending must recommend a dermatologist consultation; this ({lang}) text does not",
                    )
    questions = {s.id for s in steps if isinstance(s, model.QUESTION_TYPES)}
    for i, line in enumerate(ctx.flow.recap):
        if line.question not in questions:
            ctx.error(
                ("recap", i, "question"),
                f"a recap repeats a question's answer: '{line.question}' is not a question"
                + did_you_mean(line.question, questions),
            )
    if not isinstance(steps[-1], model.OutcomeStep) or steps[-1].when is not None:
        ctx.error(
            ("steps", len(steps) - 1),
            "a path can end without an outcome: the last step must be an outcome with no `when`",
        )
