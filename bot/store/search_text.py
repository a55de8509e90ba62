"""What the staff search reads of an intake (its *search text*) and what a typed query looks for.

Pure functions, no SQL (``search_index.py`` stores and queries the text). Both sides are folded the
same way, so that a name is found however it is typed:

- case, with ``casefold`` ("MÜLLER" is "müller", "ß" is "ss": "Straße" meets "Strasse");
- German umlauts, both ways: ä, ö, ü (and ø, æ) are written ae, oe, ue, as a keyboard without
  them writes them, and every other accent or script goes to ASCII with ``anyascii`` (é -> e,
  ç -> c, ş -> s, ı -> i). The text also holds a second form with ae, oe, ue written a, o, u,
  and a query looks for its own two forms (the second reads ae, oe, ue so only before another
  letter): "muller", "Mueller", "Müller" and "MÜLLER" all find each other, "Şükrü" is found by
  "sukru" and "Suekrue". The price: "Michael" also finds "Michal", "Joel" "Jolanda";
- spaces: any run of them is one space. Punctuation is kept and compared as typed, so ``%`` and
  ``_`` are a percent sign and an underscore, never wildcards; only a name is also kept without
  its apostrophes ("obrien" finds "O'Brien").

What is read: the first and last name (also as "first last"), the Telegram username (a query's
leading ``@`` is dropped), and the contact details the patient typed in any answer: e-mail
addresses, and phone numbers, which are matched by their digits (see ``phone_digits``). Only those
are taken from the answers, never the rest of what a patient wrote: the search text holds no
health data.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from anyascii import anyascii

#: Letters a German (or Danish, Norwegian) name spells out without the accent: "Müller" is
#: "Mueller", "Søren" "Soeren". Done before anyascii, which would write "Muller", "Soren".
_SPELLED_OUT = (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ø", "oe"), ("æ", "ae"))
#: ae, oe, ue read as the umlaut's plain vowel: the text's second form. A query's second form
#: reads them so only before another letter: "Mueller" looks for "muller" too, "Sue" not for "su"
#: (which would find every "Susan").
_UMLAUT_WRITTEN = re.compile(r"([aou])e")
_UMLAUT_TYPED = re.compile(r"([aou])e(?=[a-z])")

#: An e-mail address as people type one (the domain needs a dot).
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
#: A phone number as people type one: an optional + and digits with single separators between
#: them ("+49 (0)170 123-45 67", "0170/1234567"); ``phone_digits`` decides whether it is one.
_PHONE = re.compile(r"(?<![\w+@.])\+?\(?\d(?:[ \u00a0\u202f\-/.()]{0,3}\d)+(?![\w@])")
#: Where one number ends and the next begins, in a run too long to be one number.
_BETWEEN_NUMBERS = re.compile(r" +/ +| */ *(?=\+|00)|[ ]{2,}")
#: A date is not a phone number ("12.05.2023", "2023-05-12", "1.5.23").
_DATE = re.compile(r"\d{1,4}([./-])\d{1,2}\1\d{1,4}")
#: "(0)" in "+49 (0)170 ...": the trunk prefix, not dialled from abroad.
_TRUNK = re.compile(r"\(\s*0\s*\)")
_NOT_DIGIT = re.compile(r"\D")
#: A query made only of what a phone number is written with is looked for as one.
_PHONE_QUERY = re.compile(r"\+?[\d \-/.()]+")

#: Phone numbers have 6 to 15 digits (E.164 allows 15); shorter or longer runs are something else.
PHONE_DIGITS = range(6, 16)
#: The country codes of one and two digits (ITU-T E.164); every other code has three. No code is
#: the beginning of another, so the first digits of an international number say where it ends.
_SHORT_COUNTRY_CODES_WRITTEN = """
    1 7 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58
    60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98
"""
_SHORT_COUNTRY_CODES = frozenset(_SHORT_COUNTRY_CODES_WRITTEN.split())
#: The shortest query the search index can look up (a trigram): shorter ones are read row by row.
INDEXED_LENGTH = 3


def fold(text: str) -> str:
    """``text`` as the search compares it: lower-case ASCII, umlauts spelled out, one space
    between words, punctuation as it was."""
    text = text.casefold()
    if not text.isascii():
        # one code point for a letter and its accent, however it came (u + combining diaeresis)
        text = unicodedata.normalize("NFC", text)
        for letter, spelled in _SPELLED_OUT:
            text = text.replace(letter, spelled)
        if not text.isascii():
            text = anyascii(text).lower()
    return " ".join(text.split())


def forms(folded: str, umlauts: re.Pattern[str] = _UMLAUT_WRITTEN) -> list[str]:
    """The folded text, and its second form with ae, oe, ue read as a, o, u (``umlauts``)."""
    plain = umlauts.sub(r"\1", folded)
    return [folded] if plain == folded else [folded, plain]


def stored_forms(folded: str) -> list[str]:
    """A name's forms in the search text: ``forms``, and each without apostrophes, so that
    "obrien" finds "O'Brien" (and "O’Brien", which anyascii writes with ')."""
    found = forms(folded)
    return found + [form.replace("'", "") for form in found] if "'" in folded else found


def phone_digits(typed: str) -> list[str]:
    """The digits a phone number is found by: its number without the country code or leading
    zeros, and, when it was written with a country code (``+`` or ``00``), that code followed by
    the number. "+49 170 1234567" gives ``1701234567`` and ``491701234567``; "0170 1234567"
    gives ``1701234567``. A query matches a number when one of its own digit forms is part of
    one of the number's: "01701234567", "+49 170 1234567", "170-123" and "4917012" find
    "+49 170 1234567"; "0170 1234567" is found by all but the last (written without its country
    code, the number does not say which it is)."""
    written = _TRUNK.sub("", typed.strip())
    digits = _NOT_DIGIT.sub("", written)
    if written.startswith("+") or digits.startswith("00"):
        digits = digits.lstrip("0")
        size = next((n for n in (1, 2) if digits[:n] in _SHORT_COUNTRY_CODES), 3)
        code, number = digits[:size], digits[size:].lstrip("0")
        return [number, code + number] if number else [code]
    return [digits.lstrip("0") or digits]


def contact_details(answers: Iterable[Any]) -> tuple[str, ...]:
    """The e-mail addresses and phone numbers in the answers that are text, as typed."""
    # one pass of each pattern over all the typed answers, one per line: a turn runs this
    typed = "\n".join(answer for answer in answers if type(answer) is str and len(answer) >= 6)
    found: list[str] = _EMAIL.findall(typed) if "@" in typed else []
    for match in _PHONE.finditer(typed):
        run = match.group()
        # two numbers in a row ("030 1234567 / 0170 7654321") read as one: split where one ends
        numbers = _BETWEEN_NUMBERS.split(run) if len(_NOT_DIGIT.sub("", run)) > PHONE_DIGITS[-1] else [run]
        for number in numbers:
            if not _DATE.fullmatch(number) and len(_NOT_DIGIT.sub("", number)) in PHONE_DIGITS:
                found.append(number)
    return tuple(found)


class Inputs(NamedTuple):
    """What an intake's search text is made of. Two equal ``Inputs`` make the same text, so a turn
    compares them (a tuple: cheap) before it makes the text again (folding) and writes it."""

    first_name: str | None
    last_name: str | None
    username: str | None
    contacts: tuple[str, ...]

    @classmethod
    def of(
        cls, first_name: str | None, last_name: str | None, username: str | None, state: Mapping[str, Any]
    ) -> Inputs:
        answers = state.get("answers")
        contacts = contact_details(answers.values()) if answers else ()
        return cls(first_name, last_name, username, contacts)

    def text(self) -> str:
        """The search text: one line per thing found by, in each of its forms, nothing twice."""
        name = " ".join(part for part in (self.first_name, self.last_name) if part)
        lines: list[str] = []
        for part in (name, self.username or ""):
            lines += stored_forms(fold(part))
        for contact in self.contacts:
            if "@" in contact:
                lines += forms(fold(contact))
            else:
                lines += phone_digits(contact)
        return "\n".join(dict.fromkeys(line for line in lines if line))


def query_forms(typed: str) -> list[str]:
    """What a typed query looks for, any one of them found anywhere in a line of the search text:
    the digit forms of a phone number (a query of digits and + - / . ( ) with 3 digits or more),
    or else the folded text (without a leading ``@``) in its forms. Empty: nothing to look for."""
    typed = " ".join(typed.split())  # any space (a no-break space pasted with a number) is a space
    if _PHONE_QUERY.fullmatch(typed) and len(_NOT_DIGIT.sub("", typed)) >= INDEXED_LENGTH:
        digits = [form for form in phone_digits(typed) if form]
        if digits:
            return digits
    folded = fold(typed.lstrip("@"))
    return forms(folded, _UMLAUT_TYPED) if folded else []
