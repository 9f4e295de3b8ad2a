"""Term indexes: whole-word matching of term lists, with word forms, over one reading of a prompt.

Matching is done on words, through a dictionary keyed by each word's letter skeleton (``nuuude``
→ ``nude``), so its cost grows with the prompt's length and not with the list's. A term's word may
have several accepted forms (``undress``: ``undressed``, ``undressing``), all keys of the same
entry. What was found is collected as ``Hit``s; the filter judges them.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import regex

from safety.normalize import Word, runs
from safety.terms import Category

Origin = Literal["shipped", "instance", "guild"]
# How a term was found, for the moderators: as a word, spelled out letter by letter, misspelt,
# inside a word joined to others, split over two words, by a pattern, inside CJK text.
Via = Literal["word", "letters", "misspelling", "joined", "split", "pattern", "text"]


@dataclass(frozen=True, eq=False)
class Term:
    """A listed term: its text as listed, category, where it comes from and its language."""

    text: str
    category: Category
    origin: Origin
    lang: str = "en"


@dataclass(frozen=True, eq=False)
class Entry:
    """A term as a sequence of words, each with its accepted forms."""

    term: Term
    words: tuple[tuple[Word, ...], ...]


@dataclass(frozen=True)
class Hit:
    term: Term
    found: str
    via: Via = "word"
    exempt: bool = False  # exempted by the guild (never for the absolute rule)
    ambiguous: bool = False  # a foreign form that is also an English word: needs company


@dataclass
class Positions:
    """Positions of a word sequence covered by exemption phrases of each kind."""

    skip: set[int] = field(default_factory=set)  # shipped/instance exemptions: not a term here
    not_minor: set[int] = field(default_factory=set)  # a minors word naming no person
    soft: set[int] = field(default_factory=set)  # the guild's exemptions


def word_matches(token: Word, wanted: Word, plural: bool) -> bool:
    """Same letters in the same order, each repeated at least as often as in the term."""
    n = len(wanted.counts)
    if token.skeleton[:n] != wanted.skeleton:
        return False
    rest = token.skeleton[n:]
    if rest and not (plural and (rest == "s" or (rest == "es" and _takes_es(wanted.skeleton)))):
        return False
    counts = token.counts
    # ``ass`` + ``es``: the token's last run of the term may have absorbed the plural ``s``.
    return all(counts[i] >= wanted.counts[i] for i in range(n))


def _takes_es(word: str) -> bool:
    """English plurals: ``sexes``, ``kisses``, ``bunches``; but ``spic`` + ``es`` is ``spices``."""
    return word.endswith(("s", "x", "z", "ch", "sh"))


@lru_cache(maxsize=65536)
def _keys(skeleton: str) -> tuple[str, ...]:
    keys = [skeleton]
    if skeleton.endswith("s"):
        keys.append(skeleton[:-1])
    if skeleton.endswith("es"):
        keys.append(skeleton[:-2])
    return tuple(keys)


MAX_PHRASE_WORDS = 8  # longer phrases are not listed; bounds the window around re-joined words


def near(merged: frozenset[int] | None, length: int) -> Iterable[int]:
    """Start positions whose phrases can reach a re-joined word (all positions when ``None``)."""
    if merged is None:
        return range(length)
    return sorted({p - k for p in merged for k in range(MAX_PHRASE_WORDS) if 0 <= p - k < length})


class Budget:
    """The time a guild's (and the instance's) term patterns may take on one check, all together
    and each alone: 200 patterns within their own limit must not add up to seconds."""

    def __init__(self, per_pattern_s: float, total_s: float) -> None:
        self.per_pattern_s = per_pattern_s
        self.deadline = time.perf_counter() + total_s

    def search(self, pattern: regex.Pattern[str], text: str) -> regex.Match[str] | None:
        """Raises ``TimeoutError`` when the pattern or the check as a whole runs out of time."""
        left = self.deadline - time.perf_counter()
        if left <= 0:
            raise TimeoutError("the term patterns ran out of time on this prompt")
        return pattern.search(text, timeout=min(self.per_pattern_s, left))


class Index:
    """Entries by the skeleton of each form of their first word; patterns compiled once."""

    def __init__(self) -> None:
        self.by_first: dict[str, list[tuple[Entry, Word, bool]]] = {}
        self.single: dict[str, list[tuple[Entry, Word, bool]]] = {}
        self.run_lengths: list[int] = []  # skeleton lengths (2 or more) of one-word terms, sorted
        self.patterns: list[tuple[regex.Pattern[str], Term]] = []

    def add(self, term: Term, words: list[list[str]], ambiguous: Iterable[str] = ()) -> None:
        """Add a term given as its words, each with its accepted forms (the first as listed).

        ``ambiguous``: one-word forms that only count with company of their language.
        """
        unclear = set(ambiguous)
        entry = Entry(term, tuple(tuple(runs(f) for f in forms) for forms in words))
        self._add(entry, unclear)
        if len(words) > 1:  # "blow job" also matches "blowjob"
            glued = "".join(forms[0] for forms in words)
            self._add(Entry(term, ((runs(glued),),)), set())

    def _add(self, entry: Entry, unclear: set[str]) -> None:
        single = len(entry.words) == 1
        for form in entry.words[0]:
            item = (entry, form, single and form.text in unclear)
            self.by_first.setdefault(form.skeleton, []).append(item)
            if single:
                self.single.setdefault(form.skeleton, []).append(item)
                length = len(form.skeleton)
                if length >= 2 and length not in self.run_lengths:
                    bisect.insort(self.run_lengths, length)

    def add_pattern(self, pattern: str, term: Term) -> None:
        self.patterns.append((regex.compile(pattern, regex.IGNORECASE), term))

    def occurrences(
        self, words: tuple[str, ...], starts: Iterable[int] | None = None
    ) -> Iterator[tuple[int, int, Entry, bool]]:
        """``(start, end, entry, ambiguous)`` for every occurrence of an entry in ``words``
        (starting at one of ``starts``, default everywhere)."""
        by_first = self.by_first
        count = len(words)
        for i in range(count) if starts is None else starts:
            token = runs(words[i])
            for key in _keys(token.skeleton):
                candidates = by_first.get(key)
                if candidates is None:
                    continue
                for entry, form, unclear in candidates:
                    last = len(entry.words) - 1
                    if i + last >= count:
                        continue
                    if not word_matches(token, form, last == 0):
                        continue
                    if all(
                        any(word_matches(runs(words[i + k]), alt, k == last) for alt in forms)
                        for k, forms in enumerate(entry.words[1:], start=1)
                    ):
                        yield i, i + last + 1, entry, unclear

    def covered(self, words: tuple[str, ...], starts: Iterable[int] | None = None) -> set[int]:
        """Positions of ``words`` inside an occurrence of one of this index's phrases."""
        positions: set[int] = set()
        for i, j, _entry, _unclear in self.occurrences(words, starts):
            positions.update(range(i, j))
        return positions

    def lookup(self, word: str) -> list[tuple[Entry, bool]]:
        """One-word entries that ``word`` is a form of (plural allowed)."""
        token = runs(word)
        out = []
        for key in _keys(token.skeleton):
            for entry, form, unclear in self.single.get(key, ()):
                if word_matches(token, form, True):
                    out.append((entry, unclear))
        return out

    def match_sequence(
        self,
        words: tuple[str, ...],
        hits: list[Hit],
        positions: Positions,
        merged: frozenset[int] | None = None,
    ) -> set[int]:
        """Terms in a word sequence; returns the positions that matched a term.

        ``merged``: in a re-joined sequence, the positions of re-joined words; only matches that
        use one count there (the words as written were matched, with their exemptions, already).
        """
        matched: set[int] = set()
        for i, j, entry, unclear in self.occurrences(words, near(merged, len(words))):
            span = range(i, j)
            if merged is not None and not any(p in merged for p in span):
                continue
            minor = entry.term.category == "minors"
            blocked_by = positions.not_minor if minor else positions.skip
            if any(p in blocked_by for p in span):
                continue
            exempt = not minor and any(p in positions.soft for p in span)
            hits.append(Hit(entry.term, " ".join(words[i:j]), "word", exempt, unclear))
            matched.update(span)
        return matched

    def match_letter_run(self, letters: str, hits: list[Hit]) -> None:
        """Terms spelled out inside a run of single letters (``a n u d e`` → ``anude``)."""
        run = runs(letters)
        skeleton = run.skeleton
        for start in range(len(skeleton)):
            # Only the lengths some term has: one long guild term must not make every start
            # try every length up to its own.
            for length in self.run_lengths:
                end = start + length
                if end > len(skeleton):
                    break
                for entry, form, unclear in self.single.get(skeleton[start:end], ()):
                    have = run.counts[start:end]
                    if all(h >= w for h, w in zip(have, form.counts, strict=True)):
                        hits.append(Hit(entry.term, form.text, "letters", False, unclear))

    def match_patterns(self, texts: Iterable[str], budget: Budget | None, hits: list[Hit]) -> None:
        """Patterns over the texts; ``budget``: the time limits of untrusted (guild and instance)
        patterns. The shipped patterns are linear and run without one."""
        for pattern, term in self.patterns:
            for text in texts:
                found = pattern.search(text) if budget is None else budget.search(pattern, text)
                if found is not None:
                    hits.append(Hit(term, found.group(), "pattern"))
                    break


class SubstringIndex:
    """Terms found inside runs of text without spaces (Chinese, Japanese, Korean)."""

    def __init__(self) -> None:
        self.by_first: dict[str, list[tuple[str, Term]]] = {}

    def add(self, text: str, term: Term) -> None:
        self.by_first.setdefault(text[0], []).append((text, term))

    def match(self, text: str, hits: list[Hit]) -> None:
        by_first = self.by_first
        for i, char in enumerate(text):
            candidates = by_first.get(char)
            if candidates is None:
                continue
            for needle, term in candidates:
                if text.startswith(needle, i):
                    hits.append(Hit(term, needle, "text"))
