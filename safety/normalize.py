"""Text normalisation that undoes the usual ways of disguising a word.

People hide blocked words from filters with look-alike letters (Cyrillic ``о``, Cherokee ``Ꭼ``,
fullwidth ``ｎ``, math letters ``𝐧``), invisible characters, accents, leetspeak (``nud3``), letters
spaced out (``n.u.d.e``) and repeated letters (``nuuude``). Every step here is linear in the text,
so a huge prompt costs milliseconds, and every step only adds candidate words: the matcher still
matches whole words, which keeps ``Scunthorpe`` and ``analysis`` clean.

A prompt is read two ways:

- the **Latin reading** (``fold``): every letter that imitates a Latin one becomes that letter
  (Unicode's confusables data, ``safety.lookalikes``), accents go. English terms and the Latin
  spellings of other languages are matched here.
- the **native reading** (``fold_native``): lower case, accents kept, other scripts kept
  (Cyrillic ``голая``, ``niña``, ``裸体``). Russian, Chinese, Japanese and Korean terms, and
  accented spellings that would be ambiguous without their accent, are matched here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from safety.lookalikes import cyrillic_for_latin, latin_for, script_of

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
_NATIVE_WORD = re.compile(r"[^\W_]+")
_SPACE = re.compile(r"\s")


def _strip_invisible(text: str) -> str:
    """Drop format/control/private characters and stray combining marks (zalgo); turn control
    whitespace into spaces."""
    out = []
    for char in text:
        category = unicodedata.category(char)
        if category[0] == "C":
            if char in "\t\n\r\v\f":
                out.append(" ")
            continue  # zero-width joiners, soft hyphens, bidi marks, other controls
        if category in ("Mn", "Me"):
            continue
        out.append(char)
    return "".join(out)


def prepare(text: str) -> str:
    """NFKC (fullwidth, math and circled letters, ligatures) and invisible characters removed."""
    return _strip_invisible(unicodedata.normalize("NFKC", text))


@lru_cache(maxsize=8192)
def _fold_char(char: str) -> str:
    # A capital of another script may imitate a different letter than its lower case does
    # (Greek Ν is "N", ν is "v"): look the character up as written first.
    if script_of(char) != "LATIN":
        direct = latin_for(char)
        if direct is not None:
            return direct
    folded = unicodedata.normalize("NFD", char.casefold())
    out = []
    for c in folded:
        if unicodedata.category(c) in ("Mn", "Me"):
            continue
        out.append(latin_for(c) or c)
    return "".join(out)


def fold(text: str) -> str:
    """The Latin reading: look-alikes → Latin letters, no accents, lower case.

    Text that imitates no Latin letters (Chinese, most Cyrillic words) is kept as it is; it
    cannot spell a Latin term.
    """
    text = prepare(text)
    return "".join(char.lower() if char.isascii() else _fold_char(char) for char in text)


def _to_cyrillic(word: str) -> str:
    """A Russian word with Latin look-alikes slipped in (``гoлая``) read back in Cyrillic."""
    table = cyrillic_for_latin()
    return "".join(table.get(c, c) for c in word)


def _native_word(match: re.Match[str]) -> str:
    word = match.group()
    if not word.isascii() and any("\u0400" <= c <= "\u04ff" for c in word):
        return _to_cyrillic(word)
    return word


def fold_native(text: str) -> str:
    """The native reading: lower case with accents and scripts kept (``ё`` read as ``е``)."""
    text = unicodedata.normalize("NFC", prepare(text).casefold()).replace("ё", "е")
    return _NATIVE_WORD.sub(_native_word, text)


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


def read(text: str, word: re.Pattern[str] = _WORD) -> Reading:
    """Split folded text into the word sequences of a ``Reading``."""
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
            joined = "".join(single)
            collapsed_joined.add(len(collapsed))
            collapsed.append(joined)
            letter_runs.append(joined)
        elif single:
            collapsed.append(single[0])
        single.clear()

    for match in word.finditer(text):
        token = match.group()
        attached = previous_end >= 0 and not _SPACE.search(text, previous_end, match.start())
        tokens.append(token)
        if attached and glued:
            glued[-1] += token
            glued_joined.add(len(glued) - 1)
        else:
            glued.append(token)
        if len(token) == 1:
            single.append(token)
        else:
            flush_single()
            collapsed.append(token)
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
    """The Latin reading, plainly and with leetspeak decoded (``1`` as ``i`` and as ``l``)."""
    return latin_readings(fold(text))


def latin_readings(folded: str) -> list[Reading]:
    """``readings`` of text that is already folded."""
    leet_i = folded.translate(_LEET_I)
    leet_l = folded.translate(_LEET_L).translate(_LEET_I)
    variants = [folded]
    for variant in (leet_i, leet_l):
        if variant not in variants:
            variants.append(variant)
    return [read(variant) for variant in variants]


def native_reading(native: str) -> Reading:
    """The words of the native reading (letters of any script)."""
    return read(native, _NATIVE_WORD)


def normalize(text: str) -> str:
    """The plain Latin reading as one line of words: what users and moderators are shown."""
    return " ".join(read(fold(text)).tokens)
