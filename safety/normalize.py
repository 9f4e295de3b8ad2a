"""Text normalisation that undoes the usual ways of disguising a word.

People hide blocked words from filters with look-alike letters (Cyrillic ``о``, fullwidth ``ｎ``,
math letters ``𝐧``), invisible characters, accents, leetspeak (``nud3``), letters spaced out
(``n.u.d.e``) and repeated letters (``nuuude``). Every step here is linear in the text, so a huge
prompt costs milliseconds, and every step only adds candidate words: the matcher still matches whole
words, which keeps ``Scunthorpe`` and ``analysis`` clean.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Look-alikes that NFKC leaves alone (mostly Cyrillic and Greek), mapped to the Latin letter
# they imitate. Applied after case folding, so only lower case is listed.
_HOMOGLYPHS = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "ѐ": "e", "з": "z", "и": "u", "й": "u", "к": "k",
    "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ь": "b",
    "ъ": "b", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ɡ": "g",
    "ո": "n", "ս": "u", "ց": "g", "һ": "h", "ӏ": "l", "ү": "y", "ѵ": "v", "ѡ": "w", "п": "n",
    "г": "r", "д": "d", "л": "n", "ф": "f", "ц": "u", "ш": "w", "щ": "w", "я": "r",
    # Greek
    "α": "a", "β": "b", "γ": "y", "δ": "d", "ε": "e", "ζ": "z", "η": "n", "θ": "o", "ι": "i",
    "κ": "k", "λ": "l", "μ": "u", "ν": "v", "ξ": "e", "ο": "o", "π": "n", "ρ": "p", "σ": "o",
    "ς": "s", "τ": "t", "υ": "u", "φ": "f", "χ": "x", "ψ": "y", "ω": "w", "ϲ": "c", "ϳ": "j",
    # Latin letters without a decomposition, and IPA look-alikes
    "ı": "i", "ȷ": "j", "ø": "o", "đ": "d", "ð": "d", "ħ": "h", "ł": "l", "ŀ": "l", "ƚ": "l",
    "ɑ": "a", "ɒ": "a", "ɛ": "e", "ɩ": "i", "ɪ": "i", "ɴ": "n", "ʀ": "r", "ʏ": "y", "ʙ": "b",
    "ᴀ": "a", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ᴋ": "k", "ᴍ": "m", "ᴏ": "o", "ᴘ": "p", "ᴛ": "t",
    "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ᴢ": "z", "ꜱ": "s", "ɢ": "g", "ʜ": "h", "ʟ": "l", "æ": "ae",
    "œ": "oe", "þ": "th", "ß": "ss", "ℓ": "l", "∂": "d",
}  # fmt: skip
# Capitals that imitate a different Latin letter than their lower case does (Greek Ν is "N",
# ν is "v"; Cyrillic Н is "H", н is "h"): looked up before case folding.
_UPPER_HOMOGLYPHS = {
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n",
    "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x", "В": "b", "М": "m", "Н": "h", "Т": "t",
}  # fmt: skip
# Enclosed and regional-indicator letters without NFKC decompositions (🅽, 🇳) → a–z.
for _start in (0x1F170, 0x1F1E6):
    for _offset in range(26):
        _HOMOGLYPHS[chr(_start + _offset)] = chr(ord("a") + _offset)

# Leetspeak: digits and symbols standing in for letters. ``1``, ``|`` and ``!`` read as ``i`` in
# one variant and as ``l`` in another (``1oli``, ``k1ll``).
_LEET_I = str.maketrans(
    {
        "0": "o", "1": "i", "2": "z", "3": "e", "4": "a", "5": "s", "6": "g", "7": "t",
        "8": "b", "9": "g", "@": "a", "$": "s", "!": "i", "|": "i", "+": "t", "€": "e",
        "¡": "i", "£": "l", "¥": "y", "§": "s",
    }
)  # fmt: skip
_LEET_L = str.maketrans({"1": "l", "|": "l", "!": "l"})

_WORD = re.compile(r"[a-z0-9]+")
_SPACE = re.compile(r"\s")


def _strip_invisible(text: str) -> str:
    """Drop format/control/private characters; turn control whitespace into spaces."""
    out = []
    for char in text:
        category = unicodedata.category(char)
        if category[0] == "C":
            if char in "\t\n\r\v\f":
                out.append(" ")
            continue  # zero-width joiners, soft hyphens, bidi marks, other controls
        if category in ("Mn", "Me"):
            continue  # combining accents and zalgo
        out.append(char)
    return "".join(out)


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    if char in _UPPER_HOMOGLYPHS:
        return _UPPER_HOMOGLYPHS[char]
    folded = unicodedata.normalize("NFKC", char).casefold()
    folded = unicodedata.normalize("NFD", folded)
    folded = "".join(c for c in folded if unicodedata.category(c) not in ("Mn", "Me"))
    return "".join(_HOMOGLYPHS.get(c, c) for c in folded)


def fold(text: str) -> str:
    """NFKC, case folding, accents, invisible characters and homoglyphs → plain lower case.

    Non-Latin text that does not imitate Latin letters is kept (it cannot spell a listed word).
    """
    text = unicodedata.normalize("NFKC", text)
    text = _strip_invisible(text)
    return "".join(_fold_char(char) if not char.isascii() else char.lower() for char in text)


@dataclass(frozen=True)
class Word:
    """A word as the matcher sees it: its letters' skeleton and how often each repeats."""

    text: str
    skeleton: str
    counts: tuple[int, ...]


@lru_cache(maxsize=65536)
def runs(text: str) -> Word:
    """``nuuude`` → skeleton ``nude`` with counts (1, 3, 1, 1): repeats are compared, not erased."""
    skeleton: list[str] = []
    counts: list[int] = []
    for char in text:
        if skeleton and skeleton[-1] == char:
            counts[-1] += 1
        else:
            skeleton.append(char)
            counts.append(1)
    return Word(text, "".join(skeleton), tuple(counts))


@dataclass(frozen=True)
class Reading:
    """One way of reading the prompt: word sequences that the term matcher walks through."""

    tokens: tuple[str, ...]  # words as written
    glued: tuple[str, ...]  # pieces joined across in-word punctuation (``nu*de`` → ``nude``)
    collapsed: tuple[str, ...]  # single letters joined (``n u d e`` → ``nude``)
    letter_runs: tuple[str, ...]  # the joined single-letter runs (searched inside as well)
    glued_joined: frozenset[int] = frozenset()  # positions in ``glued`` made of several tokens
    collapsed_joined: frozenset[int] = frozenset()  # positions in ``collapsed`` of joined runs

    def sequences(self) -> list[tuple[tuple[str, ...], frozenset[int] | None]]:
        """The sequences to match, each with the positions of its re-joined words.

        ``None`` marks the words as written; a re-joined sequence only adds its joined words.
        """
        out: list[tuple[tuple[str, ...], frozenset[int] | None]] = [(self.tokens, None)]
        for seq, joined in (
            (self.glued, self.glued_joined),
            (self.collapsed, self.collapsed_joined),
        ):
            if joined:
                out.append((seq, joined))
        return out

    def texts(self) -> list[str]:
        """The word sequences as single-spaced text, for pattern entries."""
        return [" ".join(seq) for seq, _merged in self.sequences()]


def _read(text: str) -> Reading:
    tokens: list[str] = []
    glued: list[str] = []
    collapsed: list[str] = []
    letter_runs: list[str] = []
    glued_joined: set[int] = set()
    collapsed_joined: set[int] = set()
    single: list[str] = []
    previous_end = -1

    def flush_single() -> None:
        if len(single) > 1:
            word = "".join(single)
            collapsed_joined.add(len(collapsed))
            collapsed.append(word)
            letter_runs.append(word)
        elif single:
            collapsed.append(single[0])
        single.clear()

    for match in _WORD.finditer(text):
        word = match.group()
        attached = previous_end >= 0 and not _SPACE.search(text, previous_end, match.start())
        tokens.append(word)
        if attached and glued:
            glued[-1] += word
            glued_joined.add(len(glued) - 1)
        else:
            glued.append(word)
        if len(word) == 1:
            single.append(word)
        else:
            flush_single()
            collapsed.append(word)
        previous_end = match.end()
    flush_single()
    return Reading(
        tuple(tokens),
        tuple(glued),
        tuple(collapsed),
        tuple(letter_runs),
        frozenset(glued_joined),
        frozenset(collapsed_joined),
    )


def readings(text: str) -> list[Reading]:
    """The folded text read plainly and with leetspeak decoded (``1`` as ``i`` and as ``l``)."""
    folded = fold(text)
    leet_i = folded.translate(_LEET_I)
    leet_l = folded.translate(_LEET_L).translate(_LEET_I)
    variants = [folded]
    for variant in (leet_i, leet_l):
        if variant not in variants:
            variants.append(variant)
    return [_read(variant) for variant in variants]


def normalize(text: str) -> str:
    """The plain reading as one line of words: what users and moderators are shown."""
    return " ".join(_read(fold(text)).tokens)
