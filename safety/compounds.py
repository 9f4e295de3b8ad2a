"""Terms hidden by joining words together (``nudewoman``) or splitting one apart (``na ked``).

Joined: a run of letters that no dictionary knows is segmented against the term list and the
common words of one language at a time (two-letter pieces only when very common: ``in``, ``on``).
``nudewoman`` is ``nude`` + ``woman``; ``sexscene`` is ``sex`` + ``scene``; ``niñadesnuda`` is
``niña`` + ``desnuda``. Every piece must be a term or a
common word of the same language, so ``nudibranch`` (Italian ``nudi`` + English ``branch``) and
``Scunthorpe`` (``cunt`` + ``horpe``, no word) stay clean, and real words are never segmented.

Split: two neighbouring words that are not both common English words and that together spell a
term (``n ude``, ``por n``, ``na ked``). ``pen is`` and ``nu de`` are two common words and stay
apart: splitting words over prompt syntax (``nu BREAK de``) is handled by ``safety.prompt_syntax``.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

from safety.matching import Entry, Index
from safety.vocabulary import COMMON_ZIPF, english_zipf, is_common

MIN_LETTERS = 6  # shorter runs are words or misspellings, not compounds
MAX_LETTERS = 32  # longer runs are not segmented (a cost bound, not a loophole: see README)
MIN_PIECE = 3
MAX_PIECES = 4


def _term_pieces(word: str, index: Index) -> dict[tuple[int, int], list[tuple[Entry, bool]]]:
    pieces: dict[tuple[int, int], list[tuple[Entry, bool]]] = {}
    n = len(word)
    for i in range(n - MIN_PIECE + 1):
        for j in range(i + MIN_PIECE, n + 1):
            if i == 0 and j == n:
                continue  # the whole word: matched as a word already
            found = index.lookup(word[i:j])
            if found:
                pieces[(i, j)] = found
    return pieces


def segment(word: str, index: Index) -> list[tuple[Entry, bool, str]]:
    """The terms inside ``word`` when it splits wholly into terms and common words of one
    language; ``(entry, ambiguous, piece)`` each. Empty when it does not."""
    n = len(word)
    if not MIN_LETTERS <= n <= MAX_LETTERS or not word.isalpha():
        return []
    pieces = _term_pieces(word, index)
    if not pieces:
        return []
    languages = sorted({entry.term.lang for found in pieces.values() for entry, _u in found})
    out = []
    for lang in languages:  # every language that splits the word wholly
        for i, j in _split(word, lang, pieces) or ():
            for entry, unclear in pieces.get((i, j), ()):
                if entry.term.lang == lang:
                    out.append((entry, unclear, word[i:j]))
    return out


def _split(
    word: str, lang: str, pieces: dict[tuple[int, int], list[tuple[Entry, bool]]]
) -> list[tuple[int, int]] | None:
    """Pieces covering ``word``, at least one a term of ``lang``, the others its common words."""
    n = len(word)

    def term_at(i: int, j: int) -> bool:
        return any(entry.term.lang == lang for entry, _u in pieces.get((i, j), ()))

    # best[i]: a way to cover word[:i] as (pieces, uses a term); prefer ways that use a term.
    best: list[tuple[list[tuple[int, int]], bool] | None] = [None] * (n + 1)
    best[0] = ([], False)
    for i in range(n):
        start = best[i]
        if start is None or len(start[0]) >= MAX_PIECES:
            continue
        path, has_term = start
        for j in range(i + 2, n + 1):
            if i == 0 and j == n:
                continue
            is_term = j - i >= MIN_PIECE and term_at(i, j)
            if not is_term and not is_common(word[i:j], lang, at_edge=i == 0 or j == n):
                continue
            candidate = ([*path, (i, j)], has_term or is_term)
            current = best[j]
            if current is None or (candidate[1] and not current[1]):
                best[j] = candidate
    end = best[n]
    return end[0] if end is not None and end[1] else None


def split_pairs(tokens: tuple[str, ...], index: Index) -> Iterator[tuple[Entry, str]]:
    """Terms spelled by two neighbouring words that are not both common (``n ude``, ``na ked``)."""
    for a, b in pairwise(tokens):
        if len(a) + len(b) < 4 or not (a + b).isalpha():
            continue
        if english_zipf(a) >= COMMON_ZIPF and english_zipf(b) >= COMMON_ZIPF:
            continue
        for entry, unclear in index.lookup(a + b):
            if not unclear and entry.term.lang == "en":
                yield entry, f"{a} {b}"
