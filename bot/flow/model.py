"""The questionnaire as data: immutable types for a flow, its steps, conditions and flags.

The same models validate a clinic's YAML (via ``load.py``) and publish the format's JSON Schema
(``python -m bot schema``), so the documented format and the checked format cannot drift apart.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

# Ids end up in Telegram callback data (64 bytes, shared with a version number) and in FHIR
# linkIds, so they are short, lower-case ASCII and never translated.
Id = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=24)]
LangCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]
#: A text a person sees: one string, or a map of language code -> string.
Text = Annotated[str, Field(min_length=1)] | dict[LangCode, Annotated[str, Field(min_length=1)]]
Severity = Literal["urgent", "high", "review", "note"]
#: A web address a person can open (the booking page).
Link = Annotated[str, Field(pattern=r"^https?://\S+$")]
SEVERITY_ORDER: tuple[str, ...] = ("urgent", "high", "review", "note")
#: A severity as a number, higher the graver (0: no flag): how the store sorts and filters by it.
SEVERITY_RANK: dict[str, int] = {name: len(SEVERITY_ORDER) - i for i, name in enumerate(SEVERITY_ORDER)}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- conditions -------------------------------------------------------------------------------


class QuestionCondition(_Model):
    """A test on one earlier answer; exactly one operator besides ``question``."""

    question: Id
    equals: str | int | float | bool | None = None
    one_of: list[str | int | float] | None = None
    contains: str | None = None
    contains_any: list[str] | None = None
    less_than: float | None = None
    at_most: float | None = None
    greater_than: float | None = None
    at_least: float | None = None
    answered: bool | None = None
    mentions: list[Annotated[str, Field(min_length=2)]] | None = None


OPERATORS: tuple[str, ...] = (
    "equals",
    "one_of",
    "contains",
    "contains_any",
    "less_than",
    "at_most",
    "greater_than",
    "at_least",
    "answered",
    "mentions",
)


class FlagCondition(_Model):
    """Holds when the named flag has been raised (used by endings)."""

    flag: Id


class SeverityCondition(_Model):
    """Holds when any flag of this severity has been raised."""

    severity: Severity


class TypedTextCondition(_Model):
    """Holds when any free-text answer mentions one of these words or phrases."""

    typed_text_mentions: list[Annotated[str, Field(min_length=2)]]


class AllCondition(_Model):
    all: list[Condition] = Field(min_length=1)


class AnyCondition(_Model):
    any: list[Condition] = Field(min_length=1)


class NotCondition(_Model):
    not_: Condition = Field(alias="not")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


_CONDITION_TAGS = ("question", "flag", "severity", "typed_text_mentions", "all", "any", "not")


# Union tags appear in pydantic's error locations; a "<...>" name can never be mistaken for a
# key of the flow (a condition's tag "question" would otherwise look like its `question:` key).
def _tag(name: str) -> str:
    return f"<{name}>"


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in _CONDITION_TAGS:
            if key in value:
                return _tag(key)
        return None
    for key, cls in _CONDITION_CLASSES.items():
        if isinstance(value, cls):
            return _tag(key)
    return None


Condition = Annotated[
    Annotated[QuestionCondition, Tag("<question>")]
    | Annotated[FlagCondition, Tag("<flag>")]
    | Annotated[SeverityCondition, Tag("<severity>")]
    | Annotated[TypedTextCondition, Tag("<typed_text_mentions>")]
    | Annotated[AllCondition, Tag("<all>")]
    | Annotated[AnyCondition, Tag("<any>")]
    | Annotated[NotCondition, Tag("<not>")],
    Discriminator(
        _condition_tag,
        custom_error_type="condition_kind",
        custom_error_message="a condition needs one of: " + ", ".join(_CONDITION_TAGS),
    ),
]

_CONDITION_CLASSES: dict[str, type] = {
    "question": QuestionCondition,
    "flag": FlagCondition,
    "severity": SeverityCondition,
    "typed_text_mentions": TypedTextCondition,
    "all": AllCondition,
    "any": AnyCondition,
    "not": NotCondition,
}

# --- choices -------------------------------------------------------------------------------------


class Choice(_Model):
    id: Id
    label: Text
    #: Selecting this choice clears every other one ("none of these").
    exclusive: bool = False


class ScalePoint(_Model):
    value: int
    label: Text


# --- steps ---------------------------------------------------------------------------------------


class _Step(_Model):
    id: Id
    when: Condition | None = None


class _Question(_Step):
    kind: Literal["question"] = "question"
    section: Id | None = None
    ask: Text
    hint: Text | None = None
    reask: Text | None = None
    optional: bool = False


class YesNoQuestion(_Question):
    answer: Literal["yesno"]


class SingleQuestion(_Question):
    answer: Literal["single"]
    choices: list[Choice] = Field(min_length=2)


class MultiQuestion(_Question):
    answer: Literal["multi"]
    choices: list[Choice] = Field(min_length=2)
    min_selected: int = Field(1, ge=0)
    max_selected: int | None = Field(None, ge=1)


class NumberQuestion(_Question):
    answer: Literal["number"]
    integer: bool = True
    min: float | None = None
    max: float | None = None
    unit: Text | None = None


class TextQuestion(_Question):
    answer: Literal["text"]
    max_length: int = Field(500, ge=1, le=3000)


class ScaleQuestion(_Question):
    answer: Literal["scale"]
    points: list[ScalePoint] = Field(min_length=2)


AnswerType = Literal["yesno", "single", "multi", "number", "text", "scale"]

Question = Annotated[
    Annotated[YesNoQuestion, Tag("<yesno>")]
    | Annotated[SingleQuestion, Tag("<single>")]
    | Annotated[MultiQuestion, Tag("<multi>")]
    | Annotated[NumberQuestion, Tag("<number>")]
    | Annotated[TextQuestion, Tag("<text>")]
    | Annotated[ScaleQuestion, Tag("<scale>")],
    Discriminator(
        lambda v: _tag(str(v.get("answer") if isinstance(v, dict) else getattr(v, "answer", None))),
        custom_error_type="answer_type",
        custom_error_message="a question needs `answer:` one of yesno, single, multi, number, text, scale",
    ),
]


class InfoStep(_Step):
    """Text to read, then a continue button."""

    kind: Literal["info"]
    text: Text


#: Versions are stored beside every intake (a column of 32 characters).
Version = Annotated[str, Field(min_length=1, max_length=32)]


class ConsentStep(_Step):
    """Asked before any health question. Declining must lead straight to an outcome."""

    kind: Literal["consent"]
    version: Version
    text: Text
    agree: Text
    decline: Text


class SummaryStep(_Step):
    """Shows every answer so far; any of them can be changed before finishing."""

    kind: Literal["summary"]
    text: Text


class Paragraph(_Model):
    """A paragraph of an ending, shown only when its condition holds (always, without one)."""

    text: Text
    when: Condition | None = None


class Booking(_Model):
    """A booking page and what the bot adds to its address for each person (``bot.flow.booking``):
    ``prefill`` maps a query parameter the booking system reads (Cal.com's ``name``, ``notes``,
    ``metadata[intake]``; Calendly's ``name``, ``a1``) to a value with placeholders: ``{intake}``,
    ``{source}``, ``{language}``, ``{ending}``, and ``{name}`` (the Telegram name) only with
    ``share_name: true``. The link itself is the plain page (``{booking_link}`` in texts)."""

    link: Link
    prefill: dict[Annotated[str, Field(min_length=1, max_length=64)], str] = Field(default_factory=dict)
    #: The person's Telegram name goes to the booking site only when the clinic says so here.
    share_name: bool = False


class OutcomeStep(_Step):
    """An ending. Every ending recommends a dermatologist consultation."""

    kind: Literal["outcome"]
    text: Text
    consultation: Text
    #: A few plain words for staff (lists, filters, exports, the questionnaire page), like a
    #: flag's ``topic``; never shown to the patient. Without it staff read the text's first words.
    topic: Text | None = None
    #: Shown as urgent care first: every urgent flag must lead to an urgent outcome.
    urgent: bool = False
    #: List the topics of the raised flags (in plain words) for the person to mention.
    list_flags: bool = False
    #: Paragraphs after the listed topics, each shown when its condition holds (a medicine
    #: sentence only for those who ticked a medicine, say).
    paragraphs: list[Paragraph] = Field(default_factory=list)
    #: The button under the ending: "flow" (the flow's booking_link), "none" (no button: an
    #: ending for someone who cannot or did not want to book here), or another link (a plain
    #: link, or a ``Booking`` with prefill).
    booking: Literal["none", "flow"] | Link | Booking = "flow"


def _step_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        return _tag(str(value.get("kind", "question")))
    return _tag(str(getattr(value, "kind", None)))


Step = Annotated[
    Annotated[Question, Tag("<question>")]
    | Annotated[InfoStep, Tag("<info>")]
    | Annotated[ConsentStep, Tag("<consent>")]
    | Annotated[SummaryStep, Tag("<summary>")]
    | Annotated[OutcomeStep, Tag("<outcome>")],
    Discriminator(
        _step_tag,
        custom_error_type="step_kind",
        custom_error_message="`kind:` must be one of question, info, consent, summary, outcome",
    ),
]

QUESTION_TYPES = (
    YesNoQuestion,
    SingleQuestion,
    MultiQuestion,
    NumberQuestion,
    TextQuestion,
    ScaleQuestion,
)


# --- flags, sections, flow -----------------------------------------------------------------------


class FlagRule(_Model):
    """An answer pattern staff must see. ``topic`` is plain words, shown to staff and in endings.

    A flag without ``when`` is raised only by a safety screen that names it (``SafetyScreen.flag``);
    it stays raised for the rest of the intake, and an urgent one does not stop the questions (the
    screen offers to carry on or stop)."""

    id: Id
    severity: Severity
    topic: Text
    when: Condition | None = None
    #: For an urgent flag: the kind yes/no question asked before a person goes back from its
    #: urgent ending, or changes the answer behind it at the summary ("You told us you have these
    #: symptoms now. Change that answer?"). Without it, the ``urgent_change_ask`` message.
    ask_before_change: Text | None = None
    #: Shown to staff only: never listed to the patient, and not counted by an ending's
    #: ``severity:`` condition (the patient would get an ending about points it cannot list).
    staff_only: bool = False


#: Phrases per language: ``{en: [...], de: [...]}``.
Phrases = dict[LangCode, list[Annotated[str, Field(min_length=1)]]]


class SafetyScreen(_Model):
    """Words read in every message a person types, at any step, before anything else happens.

    ``phrases`` are unambiguous ("kill myself"): the ``text`` is shown at once, the screen's
    ``flag`` raised, and the person chooses to carry on or stop (stopping goes to ``outcome``).
    ``ask_first`` phrases are ambiguous ("hurt myself", a bare "die"): ``ask`` is put first, and only
    a Yes counts. ``ignore`` lists everyday sayings that cancel an ask-first phrase ("I'd die for
    smooth skin"). Without ``text``, a match goes straight to ``outcome``.
    """

    id: Id
    flag: Id
    phrases: Phrases
    ask_first: Phrases = Field(default_factory=dict)
    ignore: Phrases = Field(default_factory=dict)
    ask: Text | None = None
    text: Text | None = None
    outcome: Id | None = None


class Section(_Model):
    id: Id
    title: Text


# --- talks: a live conversation with the clinic --------------------------------------------------

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: One span of opening hours, "09:00-18:00" (24-hour clock, the end after the start).
HoursSpan = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-4]):[0-5][0-9]$")]


class OpeningHours(_Model):
    """When a person at the clinic answers: spans per weekday in the clinic's time zone (a day
    left out is closed)."""

    time_zone: str
    mon: list[HoursSpan] = Field(default_factory=list)
    tue: list[HoursSpan] = Field(default_factory=list)
    wed: list[HoursSpan] = Field(default_factory=list)
    thu: list[HoursSpan] = Field(default_factory=list)
    fri: list[HoursSpan] = Field(default_factory=list)
    sat: list[HoursSpan] = Field(default_factory=list)
    sun: list[HoursSpan] = Field(default_factory=list)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not a time zone such as Europe/Berlin (an IANA name)") from None
        return value

    @field_validator(*WEEKDAYS)
    @classmethod
    def _spans_in_order(cls, spans: list[str]) -> list[str]:
        for span in spans:
            start, end = span.split("-")
            if end <= start:
                raise ValueError(f"'{span}' ends before it begins")
        return spans


class SavedReply(_Model):
    """A short text staff insert with one click, in the patient's language."""

    id: Id
    label: Text
    text: Text


class TalkSettings(_Model):
    """A live conversation with the clinic (/human): when someone answers, and saved replies."""

    opening_hours: OpeningHours | None = None
    saved_replies: list[SavedReply] = Field(default_factory=list)

    @field_validator("saved_replies")
    @classmethod
    def _ids_once(cls, replies: list[SavedReply]) -> list[SavedReply]:
        ids = [r.id for r in replies]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"saved reply id '{twice[0]}' is used twice")
        return replies


class RecapLine(_Model):
    """A sentence an ending repeats from one answer, so the person reads back what they told us:
    ``text`` with ``{answer}`` where the answer goes, shown only when the question was answered."""

    question: Id
    text: Text


class Flow(_Model):
    """A whole questionnaire: metadata, interface messages, steps in order, and flags."""

    id: Id
    version: Version
    #: Canonical address of the questionnaire (FHIR ``Questionnaire.url``).
    url: str | None = None
    title: Text
    clinic: Text
    #: Where patients book: a plain link, or a ``Booking`` (the link with prefill parameters).
    booking_link: Link | Booking
    languages: list[LangCode] = Field(min_length=1)
    default_language: LangCode
    #: Overrides for the interface's words (buttons, error messages), per key; see messages.yaml.
    messages: dict[str, Text] = Field(default_factory=dict)
    #: What to expect from the treatment, shown by the /expect command at any step.
    what_to_expect: Text | None = None
    sections: list[Section] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)
    flags: list[FlagRule] = Field(default_factory=list)
    #: Safety screens, read in every typed message (``SafetyScreen``).
    safety: list[SafetyScreen] = Field(default_factory=list)
    #: A live conversation with the clinic: opening hours and saved replies (``TalkSettings``).
    talk: TalkSettings | None = None
    #: What the endings (but an urgent one) repeat of the answers, a sentence each (``RecapLine``).
    recap: list[RecapLine] = Field(default_factory=list, max_length=5)


AllCondition.model_rebuild()
AnyCondition.model_rebuild()
NotCondition.model_rebuild()
