"""The staff pages' words in the staff member's language: gettext catalogs read with Babel.

The English words are the message ids themselves (written in the templates and the code); every
other language has a catalog, ``locale/<language>/LC_MESSAGES/messages.po``, the standard gettext
file that translators' tools (Poedit, Weblate, ``pybabel``) read and write. Adding a language is
adding its ``messages.po``: it is read at start-up (no compiled ``.mo`` to keep in step), and
``tests/test_staff_language.py`` refuses a catalog that misses a string or breaks a placeholder.

A page's language: the staff member's setting (``staff.language``), else the browser's
``Accept-Language`` among the catalogs, else the flow's default language (else English). Words for
programs (the API's JSON, the exports) stay English and go through none of this.
"""

from __future__ import annotations

import io
from functools import cached_property
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
#: The language the message ids are written in: it needs no catalog.
SOURCE_LANGUAGE = "en"


def N_(message: str) -> str:
    """Marks a string for the catalog where it is written, to be translated where it is shown
    (``_(value)`` in a template): a filter's error, a status's word."""
    return message


def catalog_languages() -> tuple[str, ...]:
    """English and every language with a catalog, in that order."""
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob("*/LC_MESSAGES/messages.po"))
    return (SOURCE_LANGUAGE, *(lang for lang in found if lang != SOURCE_LANGUAGE))


def read_catalog(language: str) -> Translations:
    """One language's catalog as gettext translations (fuzzy entries left out: not yet checked)."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


#: What each intake status is called on the pages (the status ids stay in URLs and the API).
STATUS_WORDS = {
    "in_progress": N_("in progress"),
    "completed": N_("completed"),
    "declined": N_("declined"),
    "abandoned": N_("abandoned"),
}
#: What each flag severity is called on the pages.
SEVERITY_WORDS = {
    "urgent": N_("urgent"),
    "high": N_("high"),
    "review": N_("review"),
    "note": N_("note"),
}
#: The audit log's actions in words (an action not named here is shown as its id).
ACTION_WORDS = {
    "view": N_("viewed"),
    "export": N_("exported"),
    "login": N_("logged in"),
    "login_failed": N_("login failed"),
    "review": N_("marked reviewed"),
    "unreview": N_("marked not reviewed"),
    "note": N_("added a note"),
    "acknowledge": N_("acknowledged"),
    "api_list": N_("API: listed"),
    "api_view": N_("API: viewed"),
    "alert_sent": N_("alert sent"),
    "alert_given_up": N_("alert given up"),
    "language": N_("changed language"),
    "message": N_("wrote to the patient"),
    "talk_start": N_("started a conversation"),
    "talk_handback": N_("handed back to the questionnaire"),
    "talk_close": N_("closed the conversation"),
    "api_messages": N_("API: read the conversation"),
    "display_name": N_("changed the name patients read"),
    "assign": N_("assigned"),
    "unassign": N_("unassigned"),
    "follow_up": N_("recorded a follow-up"),
}
#: What came of contacting a patient (``bot.store.records.FOLLOW_UPS``), in words.
FOLLOW_UP_WORDS = {
    "called_back": N_("called back"),
    "booked": N_("booked"),
    "no_answer": N_("no answer"),
}


class StaffLanguages:
    """Every catalog, read once; which language a request gets."""

    def __init__(self, default: str):
        self.languages = catalog_languages()
        self.catalogs: dict[str, NullTranslations] = {SOURCE_LANGUAGE: NullTranslations()}
        self.catalogs |= {lang: read_catalog(lang) for lang in self.languages if lang != SOURCE_LANGUAGE}
        #: the flow's default language when the pages have it, else English
        self.default = default if default in self.languages else SOURCE_LANGUAGE

    def translations(self, language: str) -> NullTranslations:
        return self.catalogs.get(language, self.catalogs[SOURCE_LANGUAGE])

    def choose(self, setting: str | None, accept_language: str) -> str:
        """A page's language: the member's setting, else the browser's, else the default."""
        if setting in self.languages:
            return setting
        return self.from_browser(accept_language) or self.default

    def from_browser(self, header: str) -> str | None:
        """The first language of an ``Accept-Language`` header (by its q values) that has a
        catalog; ``de-CH`` is taken as ``de``."""
        wanted: list[tuple[float, int, str]] = []
        for position, part in enumerate(header.split(",")[:32]):  # a header is short; never loop long
            tag, _, params = part.strip().partition(";")
            quality = 1.0
            for param in params.split(";"):
                key, _, value = param.strip().partition("=")
                if key == "q":
                    try:
                        quality = float(value)
                    except ValueError:
                        quality = 0.0
            if tag and quality > 0:
                wanted.append((-quality, position, tag.lower()))
        for _, _, tag in sorted(wanted):
            base = tag.split("-")[0]
            if base in self.languages:
                return base
        return None

    def name_of(self, code: str, language: str) -> str:
        """A language's name in another ("Englisch" for en in de); the code when Babel has none."""
        try:
            name = Locale.parse(code).get_display_name(language if language in self.languages else self.default)
        except (ValueError, UnknownLocaleError):  # not a language code Babel knows
            return code
        return name or code

    @cached_property
    def names(self) -> dict[str, str]:
        """Each language named in itself ("Deutsch"), for the settings form."""
        names = {}
        for lang in self.languages:
            name = Locale.parse(lang).get_display_name(lang) or lang
            names[lang] = name[:1].upper() + name[1:]
        return names
