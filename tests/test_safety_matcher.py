"""The safety screen's matcher: each way of writing the same words, named, in English and German."""

from __future__ import annotations

import pytest

from bot.safety import Screener, ScreenWords, normalise, phrase_pattern

SCREENER = Screener(
    [
        ScreenWords(
            "self_harm",
            phrases={
                "en": ["kill myself", "want to die", "suicid*", "do not want to live"],
                "de": ["mich töten", "suizid*", "selbstmord*", "will nicht mehr leben"],
            },
            ask_first={"en": ["die", "hurt myself", "cut myself"], "de": ["sterben", "mich verletzen"]},
            ignore={"en": ["would die for", "cut myself shaving"], "de": ["sterbe vor neugier"]},
        )
    ]
)


def definite(text: str, language: str = "en") -> bool:
    hit = SCREENER.match(text, language)
    return hit is not None and not hit.ask_first


def asked(text: str, language: str = "en") -> bool:
    hit = SCREENER.match(text, language)
    return hit is not None and hit.ask_first


@pytest.mark.parametrize(
    ("case", "text", "language"),
    [
        ("case", "I WANT TO KILL MYSELF", "en"),
        ("mixed case", "i Want To Die", "en"),
        ("umlaut", "Ich will mich töten", "de"),
        ("umlaut typed as ASCII", "ich will mich toeten", "de"),
        ("umlaut capital", "ICH WILL MICH TÖTEN", "de"),
        ("accent on a Latin letter", "suïcide", "en"),
        ("curly apostrophe", "I don’t want to live", "en"),
        ("straight apostrophe", "I don't want to live", "en"),
        ("no apostrophe", "i dont want to live", "en"),
        ("short form im", "im going to kill myself", "en"),
        ("I'm", "I'm going to kill myself", "en"),
        ("wanna", "i wanna die", "en"),
        ("kms", "honestly kms", "en"),
        ("repeated letters", "i want to diiieeee", "en"),
        ("repeated letters in a long word", "kiiiill myseeeelf", "en"),
        ("extra spaces", "  kill     myself  ", "en"),
        ("punctuation between words", "kill...myself!!!", "en"),
        ("split word", "kill my self", "en"),
        ("line break", "kill\nmyself", "en"),
        ("word ending wildcard", "I have suicidal thoughts", "en"),
        ("German compound", "Ich habe Suizidgedanken", "de"),
        ("hyphenated compound", "Selbstmord-Gedanken", "de"),
        ("full-width letters", "ｋｉｌｌ ｍｙｓｅｌｆ", "en"),
        ("German words in an English conversation", "ich will nicht mehr leben", "en"),
        ("English words in a German conversation", "I want to kill myself", "de"),
    ],
)
def test_definite_phrase_is_caught_however_written(case: str, text: str, language: str) -> None:
    assert definite(text, language), case


@pytest.mark.parametrize(
    ("case", "text", "language"),
    [
        ("whole words: diet is not die", "I am on a diet", "en"),
        ("whole words: studied is not die", "I studied biology", "en"),
        ("whole words: skill is not kill", "my skill myself", "en"),
        ("an everyday saying cancels an ask-first word", "I'd die for smooth skin", "en"),
        ("an everyday saying: shaving", "I cut myself shaving", "en"),
        ("German saying", "Ich sterbe vor Neugier", "de"),
        ("German article 'die' is not the English verb", "die Falten auf der Stirn", "de"),
        ("empty message", "", "en"),
        ("only punctuation", "?!…", "en"),
    ],
)
def test_everyday_words_are_not_caught(case: str, text: str, language: str) -> None:
    assert SCREENER.match(text, language) is None, case


@pytest.mark.parametrize(
    ("case", "text", "language"),
    [
        ("a bare die", "die", "en"),
        ("hurt myself", "sometimes I hurt myself", "en"),
        ("cut myself, not shaving", "I cut myself last night", "en"),
        ("German sterben", "ich möchte sterben", "de"),
        ("German mich verletzen", "ich will mich verletzen", "de"),
    ],
)
def test_ambiguous_words_ask_first(case: str, text: str, language: str) -> None:
    assert asked(text, language), case


def test_a_definite_phrase_wins_over_an_everyday_saying() -> None:
    assert definite("I want to die for real")  # "die for" is a saying only for ask-first words


def test_ask_first_words_are_read_in_the_conversation_language_only() -> None:
    assert SCREENER.match("die", "de") is None  # the German article


def test_the_hit_says_which_language_matched() -> None:
    hit = SCREENER.match("Ich habe Suizidgedanken und will mich töten", "en")
    assert hit is not None and hit.language == "de" and hit.screen == "self_harm"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I’m   GONNA  kill my self!!!", " i am going to kil myself "),
        ("Töten / toeten", " toeten toeten "),
        ("Straße", " strase "),
        ("can't won't", " can not wil not "),
        ("diieee", " die "),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize("phrase", ["!!!", "*", "su*cide", "…"])
def test_a_phrase_that_can_never_match_has_no_pattern(phrase: str) -> None:
    assert phrase_pattern(phrase) is None


def test_no_screens_match_nothing() -> None:
    assert not Screener([])
    assert Screener([]).match("kill myself", "en") is None
