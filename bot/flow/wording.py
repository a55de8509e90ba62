"""Diagnostic or verdict wording in patient-facing text, and whether an ending recommends a consultation.

The bot routes every person to a dermatologist and decides nothing (see the clinical brief's
regulatory line), so a flow may not say "you have ...", "you are not suitable", "you qualify",
"no need to see a doctor" and the like, in any language it is written in. Negated mentions of a
diagnosis ("this is not a diagnosis") are what the consent text must say, so they are allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FLAGS = re.IGNORECASE | re.UNICODE


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    reason: str
    #: Words that, shortly before the match, turn it into its opposite ("no diagnosis").
    negations: re.Pattern[str] | None = None
    #: Questions ("Do you have ...?") ask rather than tell; some rules only apply to statements.
    statements_only: bool = False


def _rule(pattern: str, reason: str, negations: str | None = None, statements_only: bool = False) -> Rule:
    neg = re.compile(negations, _FLAGS) if negations else None
    return Rule(re.compile(pattern, _FLAGS), reason, neg, statements_only)


_EN_NEG = r"\b(no|not|never|nothing|without|nor|neither|isn't|aren't|doesn't|don't|won't|cannot|can't)\b"
_DE_NEG = r"\b(kein\w*|nicht|nichts|nie|niemals|ohne|weder|noch)\b"

RULES: dict[str, list[Rule]] = {
    "en": [
        _rule(r"\bdiagnos\w*", "gives or promises a diagnosis", negations=_EN_NEG),
        _rule(
            r"(?<!\bdo )(?<!\bif )(?<!\bwhether )(?<!\bthat )(?<!\bwhen )"
            r"\byou(?:'ve| have| may have| might have| probably have| likely have| seem to have"
            r"| appear to have| suffer from)\b(?! told| said| answered| chosen| read| finished| agreed)",
            'states a condition ("you have ...")',
            statements_only=True,
        ),
        _rule(
            r"\byou(?:'re| are)\s+(?:not\s+)?(?:a\s+)?(?:good\s+)?(?:suitable|eligible|unsuitable|ineligible)\b",
            "gives a suitability verdict",
        ),
        _rule(
            r"\b(?:suitable|eligible|unsuitable|ineligible)\s+(?:for you|candidate)\b", "gives a suitability verdict"
        ),
        _rule(r"\byou\s+(?:do not |don't |)qualify\b", "gives a suitability verdict"),
        _rule(r"\bsafe for you\b", "tells the person a treatment is safe for them"),
        _rule(
            r"\b(?:no need|not necessary|don't need|do not need|needn't)\s+(?:to\s+)?(?:see|visit|consult)\b",
            "tells the person not to see a doctor",
        ),
        _rule(
            r"\bstop\s+(?:taking\s+)?(?:your|the|any)\s+(?:medicine|medication|tablets|pills|blood thinner)",
            "tells the person to stop a medicine",
            negations=_EN_NEG,
        ),
        _rule(r"\bthis is (?:rosacea|acne|hyperhidrosis|melasma|eczema|psoriasis)\b", "names a condition"),
    ],
    "de": [
        _rule(r"\bdiagnos\w*", "gives or promises a diagnosis", negations=_DE_NEG),
        _rule(
            r"(?<!\bob )(?<!\bwenn )(?<!\bfalls )(?<!\bdass )\bSie\s+(?:haben|leiden an|leiden unter)\s+"
            r"(?:eine?n?\s+|wahrscheinlich\s+|vermutlich\s+)?(?!uns\b|angegeben|gesagt|geantwortet|zugestimmt)",
            'states a condition ("Sie haben ...")',
            statements_only=True,
        ),
        _rule(r"\b(?:un)?geeignet\b", "gives a suitability verdict", statements_only=True),
        _rule(r"\bkommen Sie (?:nicht )?in Frage\b|\bSie kommen (?:nicht )?in Frage\b", "gives a suitability verdict"),
        _rule(r"\bsicher für Sie\b", "tells the person a treatment is safe for them"),
        _rule(
            r"\b(?:Arzt|Ärzt|Hautarzt|Hautärzt|Arztbesuch|Dermatolog)\w*\s+(?:ist\s+|sind\s+)?"
            r"(?:nicht|kein\w*)\s+(?:nötig|notwendig|erforderlich)",
            "tells the person not to see a doctor",
        ),
        _rule(
            r"\b(?:müssen|brauchen)\s+(?:Sie\s+)?(?:nicht|kein\w*)\s+(?:zum\s+|zur\s+|einen\s+)?"
            r"(?:Arzt|Ärzt|Hautarzt|Hautärzt|Dermatolog)",
            "tells the person not to see a doctor",
        ),
        _rule(
            r"\bsetzen Sie\s+(?:Ihre\s+|Ihren\s+|das\s+|die\s+)?"
            r"[\w-]*(?:medikament|tablette|blutverdünner)[\w-]*\s+ab\b",
            "tells the person to stop a medicine",
        ),
    ],
}

#: An ending's consultation text must name the consultation in words of its language.
CONSULTATION_WORDS: dict[str, re.Pattern[str]] = {
    "en": re.compile(r"consult|dermatolog", _FLAGS),
    "de": re.compile(r"beratung|konsultation|dermatolog|hautärzt|hautarzt", _FLAGS),
    "fr": re.compile(r"consultation|dermatolog", _FLAGS),
    "es": re.compile(r"consulta|dermatólog|dermatolog", _FLAGS),
    "it": re.compile(r"consulenza|visita|dermatolog", _FLAGS),
    "ru": re.compile(r"консультац|дерматолог", _FLAGS),
}

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*", _FLAGS)


def verdicts(text: str, language: str) -> list[str]:
    """Each reason ``text`` breaks the no-diagnosis rule, with the words that did it."""
    found: list[str] = []
    for sentence in _SENTENCE.findall(text):
        is_question = sentence.rstrip().endswith("?")
        for rule in RULES.get(language, []):
            if rule.statements_only and is_question:
                continue
            for match in rule.pattern.finditer(sentence):
                before = sentence[max(0, match.start() - 40) : match.start()]
                if rule.negations and rule.negations.search(before):
                    continue
                found.append(f'{rule.reason}: "{match.group(0).strip()}"')
                break
    return found


def recommends_consultation(text: str, language: str) -> bool | None:
    """Whether ``text`` names a consultation; None for a language we have no words for."""
    words = CONSULTATION_WORDS.get(language.split("-")[0])
    return None if words is None else bool(words.search(text))


def known_languages() -> list[str]:
    return sorted(RULES)
