"""Which words are real, common words: the guard that keeps fuzzy matching honest.

Misspelling and joined-word matching only look at words that no dictionary knows: ``nakid`` is
read as ``naked``, but ``nuked``, ``baked`` and ``titmouse`` are words and are left alone. The
dictionary is ``wordfreq`` (word frequencies from large corpora, offline): English with its
large list (down to rare words and names), the other supported languages with their small lists.

Everything is loaded once per process, on first use (about half a second, ~40 MB).
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass
from functools import cache

import wordfreq

# A word at least this frequent in English (Zipf scale: 1 = once per billion words) is a real
# word, never a disguise: ``nudibranch`` (1.7), ``titmouse`` (1.9) and ``Scunthorpe`` (2.6) are.
KNOWN_ZIPF = 1.5
# A piece of a joined word (``nude`` + ``woman``) must be at least this common, and long.
COMMON_ZIPF = 3.0
COMMON_MIN_LETTERS = 3
# A foreign term that is also an English word this common (``kind``, ``nina``, ``nu``) counts only
# next to other words of its language.
AMBIGUOUS_ZIPF = 2.5
OTHER_LANGUAGES = ("es", "fr", "de", "pt", "it", "nl", "pl")


def strip_marks(word: str) -> str:
    """``niña`` → ``nina``: the form the Latin reading of a prompt uses."""
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _zipf_table(lang: str, wordlist: str, floor: float) -> dict[str, float]:
    path = wordfreq.available_languages(wordlist)[lang]
    table: dict[str, float] = {}
    for index, words in enumerate(wordfreq.read_cBpack(path)):
        zipf = wordfreq.cB_to_zipf(-index)
        if zipf < floor:
            break
        for word in words:
            if word.isalpha():
                key = strip_marks(word) if not word.isascii() else word
                table.setdefault(key, zipf)  # lists are sorted by frequency: keep the first
    return table


@dataclass(frozen=True)
class _Tables:
    english: dict[str, float]
    others: dict[str, dict[str, float]]


_lock = threading.Lock()


@cache
def _tables() -> _Tables:
    with _lock:
        english = _zipf_table("en", "large", KNOWN_ZIPF)
        others = {lang: _zipf_table(lang, "small", 0.0) for lang in OTHER_LANGUAGES}
        return _Tables(english, others)


def english_zipf(word: str) -> float:
    """The word's frequency in English on the Zipf scale (0 below ``KNOWN_ZIPF``)."""
    return _tables().english.get(word, 0.0)


def zipf_in(lang: str, word: str) -> float:
    """The word's frequency in ``lang`` (``en`` or one of ``OTHER_LANGUAGES``), else 0."""
    if lang == "en":
        return english_zipf(word)
    table = _tables().others.get(lang)
    return table.get(word, 0.0) if table is not None else 0.0


def is_known(word: str) -> bool:
    """A real word in English or in a supported language: never read as a disguise."""
    tables = _tables()
    if word in tables.english:
        return True
    return any(word in table for table in tables.others.values())


def is_common(word: str, lang: str = "en") -> bool:
    """Common enough to be a piece of a joined word (``woman`` in ``nudewoman``)."""
    return len(word) >= COMMON_MIN_LETTERS and zipf_in(lang, word) >= COMMON_ZIPF


def is_ambiguous(form: str, lang: str) -> bool:
    """A foreign form that is also a common English word, so it needs company of its language."""
    return lang != "en" and english_zipf(form) >= AMBIGUOUS_ZIPF


def speaks(lang: str, word: str) -> bool:
    """Evidence that a prompt is written in ``lang``: a common word there, unknown in English."""
    return (
        len(word) >= COMMON_MIN_LETTERS
        and zipf_in(lang, word) >= COMMON_ZIPF
        and english_zipf(word) < KNOWN_ZIPF
    )


def warm() -> None:
    """Load the tables now (start-up), not on the first prompt."""
    _tables()
