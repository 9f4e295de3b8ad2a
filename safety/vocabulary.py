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
# Rarer "words" than this that sit one edit away from a term are often typos in the corpus itself
# (``gril``: 1.8): they are still read as possible misspellings, never as compounds.
STRICT_KNOWN_ZIPF = 2.0
# A piece of a joined word (``nude`` + ``woman``) must be at least this common, and long.
COMMON_ZIPF = 3.0
COMMON_MIN_LETTERS = 3
# A foreign term that is also an English word this common (``kind``, ``nina``, ``nu``), or a very
# common word of another supported language (German ``sein`` for French ``sein``), counts only
# next to other words of its language.
AMBIGUOUS_ZIPF = 2.5
FOREIGN_COLLISION_ZIPF = 4.0
# Short words this common may be pieces of a joined word (``toddlerinlingerie``, ``hotnude``).
SHORT_PIECE_ZIPF = 5.0
THREE_LETTER_PIECE_ZIPF = 4.0
# A word is evidence of its language when it is this much more frequent there than in English.
EVIDENCE_MARGIN = 1.0
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


def _listed(word: str) -> bool:
    tables = _tables()
    return word in tables.english or any(word in table for table in tables.others.values())


def is_known(word: str, strict: bool = False) -> bool:
    """A real word (or the plural of one: ``sextons``) in English or a supported language: never
    read as a disguise. ``strict``: at least ``STRICT_KNOWN_ZIPF`` in English."""
    forms = [word]
    if word.endswith("s"):
        forms.append(word[:-1])
    if word.endswith("es"):
        forms.append(word[:-2])
    if strict:
        return any(
            english_zipf(w) >= STRICT_KNOWN_ZIPF or any(w in t for t in _tables().others.values())
            for w in forms
        )
    return any(_listed(w) for w in forms)


def is_common(word: str, lang: str = "en", at_edge: bool = False) -> bool:
    """Common enough to be a piece of a joined word: ``woman`` in ``nudewoman`` (four letters or
    more: Zipf 3), ``hot`` in ``hotnude`` (three letters: Zipf 4), ``in`` in the middle of
    ``toddlerinlingerie`` (two letters: Zipf 5, never first or last)."""
    zipf = zipf_in(lang, word)
    if len(word) == 2:
        return not at_edge and zipf >= SHORT_PIECE_ZIPF
    if len(word) == 3:
        return zipf >= THREE_LETTER_PIECE_ZIPF
    return len(word) >= COMMON_MIN_LETTERS and zipf >= COMMON_ZIPF


def speaks(lang: str, word: str) -> bool:
    """Evidence that a prompt is written in ``lang``: a common word there, clearly more common
    than in English (``femme``, ``sur``, ``kobieta``)."""
    zipf = zipf_in(lang, word)
    return (
        len(word) >= COMMON_MIN_LETTERS
        and zipf >= COMMON_ZIPF
        and zipf >= english_zipf(word) + EVIDENCE_MARGIN
    )


def warm() -> None:
    """Load the tables now (start-up), not on the first prompt."""
    _tables()
