"""Misspelt terms: words within one edit (two for long terms) of a listed term.

A symmetric-deletion index (the idea behind SymSpell): every term is stored under itself and under
each form with one or two letters deleted; a word is looked up the same way, and the candidates it
shares a key with are confirmed by the real edit distance (optimal string alignment: insertions,
deletions, substitutions and swaps of neighbours each cost one). The cost per word is a few
dictionary lookups, whatever the length of the list.

Only terms of five letters or more are matched this way (``nakid`` → ``naked``); four-letter terms
only with two neighbouring letters swapped (``nued`` → ``nude``). The caller only asks about words
that no dictionary knows (``safety.vocabulary``), so ``nuked`` never becomes ``naked``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

MIN_LETTERS = 5  # a term this long matches with one edit
LONG_LETTERS = 9  # a term this long matches with two
SWAP_LETTERS = 4  # a term this long matches with two neighbours swapped


def distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance of ``a`` and ``b``, or ``limit + 1`` when above limit."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def _deletions(word: str, depth: int) -> set[str]:
    found = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        found |= frontier
    return found


def allowed_edits(term: str) -> int:
    """How many edits a term of this length tolerates (0: none)."""
    if len(term) >= LONG_LETTERS:
        return 2
    if len(term) >= SWAP_LETTERS:
        return 1
    return 0


class FuzzyIndex(Generic[T]):
    """Terms (strings) with a payload each; ``near(word)`` gives the payloads of misspelt terms."""

    def __init__(self, terms: Iterable[tuple[str, T]]) -> None:
        self._keys: dict[str, list[tuple[str, T]]] = {}
        for term, payload in terms:
            edits = allowed_edits(term)
            if edits == 0:
                continue
            for key in _deletions(term, edits):
                self._keys.setdefault(key, []).append((term, payload))

    def near(self, word: str) -> Iterator[tuple[str, T]]:
        """``(term, payload)`` for every term within its allowed edits of ``word`` (not equal)."""
        verdicts: dict[str, bool] = {}
        given: set[int] = set()
        for key in _deletions(word, 2 if len(word) >= LONG_LETTERS - 1 else 1):
            for term, payload in self._keys.get(key, ()):
                if term == word or id(payload) in given:
                    continue
                close = verdicts.get(term)
                if close is None:
                    close = verdicts[term] = self._close(word, term, allowed_edits(term))
                if close:
                    given.add(id(payload))
                    yield term, payload

    @staticmethod
    def _close(word: str, term: str, limit: int) -> bool:
        if len(term) < MIN_LETTERS:  # four letters: only a swap of neighbours
            return (
                len(word) == len(term)
                and sorted(word) == sorted(term)
                and sum(a != b for a, b in zip(word, term, strict=True)) == 2
                and distance(word, term, 1) == 1
            )
        return distance(word, term, limit) <= limit
