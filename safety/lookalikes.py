"""Look-alike letters: which Latin letters a character from another script imitates.

The source is Unicode's confusables data (UTS #39), as shipped by ``confusable-homoglyphs``: a
graph of characters that look alike. A character's Latin reading is the nearest ASCII letter or
digit in that graph, where an upper/lower case pair also counts as one step (Cherokee ``Ꮒ`` looks
like ``h``; Greek ``η`` is the lower case of ``Η``, which looks like ``H``). That covers Cyrillic,
Greek, Armenian, Cherokee, Lisu, Canadian syllabics, and symbol look-alikes without a hand-written
table. ``data/lookalikes.toml`` adds the few letters that text generators use and TR39 leaves out.

Han, kana and Hangul are never read as Latin: they are matched as themselves.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections import deque
from functools import cache, lru_cache
from importlib import resources

from confusable_homoglyphs import categories, confusables

_MAX_STEPS = 3  # beyond three steps the graph links letters that no longer look alike
_OWN_SCRIPTS = frozenset({"HAN", "HIRAGANA", "KATAKANA", "HANGUL"})
# "LATIN SMALL LETTER C WITH HOOK", "LATIN LETTER SMALL CAPITAL N", "REGIONAL INDICATOR SYMBOL
# LETTER A", "NEGATIVE SQUARED LATIN CAPITAL LETTER A": the letter the name ends on.
_NAMED_LETTER = re.compile(
    r"(?:LATIN|REGIONAL INDICATOR SYMBOL)\b.*\bLETTER (?:[A-Z]+ )*?([A-Z])(?: WITH .*)?$"
)


@cache
def supplement() -> dict[str, str]:
    """The shipped additions to TR39 (``safety/data/lookalikes.toml``)."""
    text = resources.files("safety").joinpath("data/lookalikes.toml").read_text("utf-8")
    letters: dict[str, str] = tomllib.loads(text)["letters"]
    return letters


def _neighbours(char: str) -> list[str]:
    out = [glyph["c"] for glyph in confusables.confusables_data.get(char, ())]
    for other in (char.lower(), char.upper()):
        if other != char and len(other) == 1:
            out.append(other)
    return out


def _nearest_ascii(char: str) -> str | None:
    """Breadth-first through the confusables graph to the closest ASCII letters or digits.

    Ties prefer a letter to a digit, then the alphabet, so the result does not depend on the
    order of the data file.
    """
    depth = {char: 0}
    queue = deque([char])
    found: list[str] = []
    best: int | None = None
    while queue:
        current = queue.popleft()
        steps = depth[current]
        if best is not None and steps > best:
            break
        if current != char and current.isascii() and current.isalnum():
            best = steps
            found.append(current.lower())
            continue
        if steps >= _MAX_STEPS:
            continue
        for other in _neighbours(current):
            if other not in depth:
                depth[other] = steps + 1
                queue.append(other)
    if not found:
        return None
    return min(found, key=lambda s: (not s.isalpha(), s))


@lru_cache(maxsize=65536)
def latin_for(char: str) -> str | None:
    """The Latin letters ``char`` imitates, or ``None`` (ASCII, or imitates nothing Latin)."""
    if char.isascii():
        return None
    extra = supplement().get(char)
    if extra is not None:
        return extra
    if categories.alias(char) in _OWN_SCRIPTS:
        return None
    return _nearest_ascii(char) or _by_name(char)


def _by_name(char: str) -> str | None:
    """Unicode names as a fallback: a Latin letter "with" a mark or in small capitals is that
    letter; another script's letter "with" a mark reads as the same letter without it."""
    name = unicodedata.name(char, "")
    named = _NAMED_LETTER.search(name)
    if named is not None:
        return named.group(1).lower()
    if " WITH " in name:
        try:
            base = unicodedata.lookup(name.split(" WITH ", 1)[0])
        except KeyError:
            return None
        if base != char and not base.isascii():
            return _nearest_ascii(base) or supplement().get(base)
    return None


@lru_cache(maxsize=1024)
def _script(char: str) -> str:
    return str(categories.alias(char))


def script_of(char: str) -> str:
    """The Unicode script alias of ``char`` (``LATIN``, ``CYRILLIC``, ``HAN``, ``COMMON``, …)."""
    return _script(char)


@cache
def cyrillic_for_latin() -> dict[str, str]:
    """Latin letters → the Cyrillic letter that looks the same (``o`` → ``о``).

    Used the other way round: a Russian word with Latin letters slipped in (``гoлая``) is read
    back in Cyrillic. Built from the same confusables data.
    """
    out: dict[str, str] = {}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        for other in _neighbours(letter):
            if len(other) == 1 and _script(other) == "CYRILLIC" and other.islower():
                out.setdefault(letter, other)
    return out


def warm() -> None:
    """Work out the Latin reading of every character in the confusables data now (about half a
    second), so that no prompt pays for the first use of a script."""
    for char in confusables.confusables_data:
        if len(char) == 1:
            latin_for(char)
