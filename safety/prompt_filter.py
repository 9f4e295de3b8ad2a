"""The prompt filter: normalised whole-word matching of term lists, and the absolute rule.

Only the positive prompt is checked: people write ``nsfw, nude`` in the negative prompt to steer
away from it. Matching is done on words (see ``safety.normalize``), through a dictionary keyed by
each word's letter skeleton, so its cost grows with the prompt's length and not with the list's.
"""

from __future__ import annotations

import asyncio
import bisect
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import regex
from pydantic import BaseModel, ConfigDict, Field

from safety.config import SafetyConfig
from safety.models import ChannelFlags, GuildSafety, mature_allowed
from safety.normalize import Word, readings, runs
from safety.terms import (
    CATEGORY_EFFECTS,
    Category,
    GuildTerm,
    TermList,
    load_terms_file,
    shipped_terms,
)

Origin = Literal["shipped", "instance", "guild"]
ABSOLUTE_REASON = (
    "This prompt combines sexual content with a minor. That is never allowed in any channel, "
    "and the attempt has been recorded for the moderators."
)


class TermMatch(BaseModel):
    model_config = ConfigDict(frozen=True)

    term: str = Field(description="The listed term or pattern that matched.")
    found: str = Field(description="The normalised words of the prompt that matched it.")
    category: Category
    origin: Origin


class PromptVerdict(BaseModel):
    """What the filter found in one positive prompt, and whether it may be generated here."""

    model_config = ConfigDict(frozen=True)

    allowed: bool
    categories: list[Category] = Field(description="Categories hit, in list order, no repeats.")
    matches: list[TermMatch]
    blocking: list[Category] = Field(description="The categories that block it in this channel.")
    absolute: bool = Field(description="Sexual + minor: blocked everywhere, must be recorded.")
    reason: str = Field(description="A sentence for the user; empty when allowed.")
    normalized: str = Field(description="The prompt as the filter read it (first 500 chars).")
    seconds: float = 0.0


@dataclass(frozen=True)
class _Entry:
    term: GuildTerm
    words: tuple[Word, ...]
    origin: Origin


def _word_matches(token: Word, wanted: Word, plural: bool) -> bool:
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


class _Index:
    """Terms by the skeleton of their first word; patterns compiled once."""

    def __init__(self, entries: Iterable[tuple[GuildTerm, Origin]]) -> None:
        self.by_first: dict[str, list[_Entry]] = {}
        self.single_skeletons: dict[str, list[_Entry]] = {}
        self.run_lengths: list[int] = []  # skeleton lengths (2 or more) of one-word terms, sorted
        self.patterns: list[tuple[regex.Pattern[str], GuildTerm, Origin]] = []
        for term, origin in entries:
            if term.regex:
                self.patterns.append((regex.compile(term.text, regex.IGNORECASE), term, origin))
                continue
            words = tuple(runs(word) for word in term.text.split())
            self._add(_Entry(term, words, origin))
            if len(words) > 1:  # "blow job" also matches "blowjob"
                self._add(_Entry(term, (runs("".join(w.text for w in words)),), origin))

    def _add(self, entry: _Entry) -> None:
        self.by_first.setdefault(entry.words[0].skeleton, []).append(entry)
        if len(entry.words) == 1:
            self.single_skeletons.setdefault(entry.words[0].skeleton, []).append(entry)
            length = len(entry.words[0].skeleton)
            if length >= 2 and length not in self.run_lengths:
                bisect.insort(self.run_lengths, length)

    def covered(self, words: tuple[str, ...]) -> set[int]:
        """Positions of ``words`` inside an occurrence of one of this index's phrases."""
        positions: set[int] = set()
        for i, j, _entry in self._occurrences(words):
            positions.update(range(i, j))
        return positions

    def _occurrences(self, words: tuple[str, ...]) -> Iterator[tuple[int, int, _Entry]]:
        parsed = [runs(word) for word in words]
        for i, token in enumerate(parsed):
            sk = token.skeleton
            keys = {sk}
            if sk.endswith("s"):
                keys.add(sk[:-1])
            if sk.endswith("es"):
                keys.add(sk[:-2])
            for key in keys:
                for entry in self.by_first.get(key, ()):
                    last = len(entry.words) - 1
                    if i + last >= len(parsed):
                        continue
                    if all(
                        _word_matches(parsed[i + k], entry.words[k], k == last)
                        for k in range(last + 1)
                    ):
                        yield i, i + last + 1, entry

    def match_sequence(
        self,
        words: tuple[str, ...],
        found: _Found,
        skip: set[int],
        soft: set[int],
        merged: frozenset[int] | None = None,
    ) -> None:
        """Terms in a word sequence; ``skip``: positions exempt for all, ``soft``: guild-exempt.

        ``merged``: in a re-joined sequence, the positions of re-joined words; only matches that
        use one count there (the words as written were matched, with their exemptions, already).
        """
        for i, j, entry in self._occurrences(words):
            span = range(i, j)
            if merged is not None and not any(p in merged for p in span):
                continue
            if any(p in skip for p in span):
                continue
            exempt = any(p in soft for p in span)
            found.add(entry.term, " ".join(words[i:j]), entry.origin, exempt)

    def match_letter_run(self, letters: str, found: _Found) -> None:
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
                for entry in self.single_skeletons.get(skeleton[start:end], ()):
                    wanted = entry.words[0].counts
                    have = run.counts[start:end]
                    if all(h >= w for h, w in zip(have, wanted, strict=True)):
                        found.add(entry.term, entry.term.text, entry.origin)

    def match_patterns(self, texts: list[str], timeout: float, found: _Found) -> None:
        for pattern, term, origin in self.patterns:
            for text in texts:
                hit = pattern.search(text, timeout=timeout)
                if hit is not None:
                    found.add(term, hit.group(), origin)
                    break


class _Found:
    """Matches by (category, term); a match is exempt only if every occurrence of it was."""

    def __init__(self, base_exempt: set[str], guild_exempt: set[str]) -> None:
        self.base_exempt = base_exempt
        self.guild_exempt = guild_exempt
        self.matches: dict[tuple[str, str], tuple[TermMatch, bool]] = {}

    def add(self, term: GuildTerm, text: str, origin: Origin, exempt: bool = False) -> None:
        if text in self.base_exempt:
            return
        exempt = exempt or text in self.guild_exempt or term.text in self.guild_exempt
        key = (term.category, term.text)
        if key not in self.matches or (self.matches[key][1] and not exempt):
            match = TermMatch(term=term.text, found=text, category=term.category, origin=origin)
            self.matches[key] = (match, exempt)


def _allow_index(phrases: Iterable[str]) -> _Index:
    return _Index((GuildTerm(text=phrase), "shipped") for phrase in phrases)


def _unchecked(reason: str, started: float) -> PromptVerdict:
    """A prompt that could not be checked is not allowed (fail closed)."""
    return PromptVerdict(
        allowed=False,
        categories=[],
        matches=[],
        blocking=[],
        absolute=False,
        reason=reason,
        normalized="",
        seconds=time.perf_counter() - started,
    )


class PromptFilter:
    """Checks positive prompts against the shipped list, the instance file and a guild's terms.

    Thread-safe after construction; compiled guild lists are cached by their content.
    """

    def __init__(self, config: SafetyConfig | None = None) -> None:
        self.config = config or SafetyConfig()
        shipped = shipped_terms()
        entries: list[tuple[GuildTerm, Origin]] = [(t, "shipped") for t in shipped.terms]
        self._exemptions: tuple[str, ...] = shipped.exemptions
        if self.config.terms_file is not None:
            extra = load_terms_file(self.config.terms_file)
            entries += [(t, "instance") for t in extra.terms]
            self._exemptions += extra.exemptions
        self._base = _Index(entries)
        self._allow = _allow_index(self._exemptions)
        self._cache: OrderedDict[tuple[object, ...], _Index] = OrderedDict()
        self._cache_lock = threading.Lock()

    def _cached(self, key: tuple[object, ...], build: Callable[[], _Index]) -> _Index:
        with self._cache_lock:
            index = self._cache.get(key)
            if index is None:
                index = self._cache[key] = build()
                while len(self._cache) > 256:
                    self._cache.popitem(last=False)
            return index

    def find(
        self, prompt: str, guild_terms: TermList | None = None
    ) -> tuple[list[tuple[TermMatch, bool]], str]:
        """Every term in ``prompt`` with whether the guild exempted it, and the prompt as read.

        Shipped and instance exemptions (``naked eye``, ``kid goat``) mean "not a term here" and
        hold for every rule; a guild's exemptions hold for everything but the absolute rule.
        """
        guild_terms = guild_terms or TermList()
        indexes = [self._base]
        if guild_terms.terms:
            terms = guild_terms.terms
            indexes.append(
                self._cached(("terms", *terms), lambda: _Index((t, "guild") for t in terms))
            )
        guild_allow = None
        if guild_terms.exemptions:
            phrases = guild_terms.exemptions
            guild_allow = self._cached(("exempt", *phrases), lambda: _allow_index(phrases))
        found = _Found(set(self._exemptions), set(guild_terms.exemptions))
        timeout = self.config.regex_timeout_ms / 1000
        views = readings(prompt)
        texts: list[str] = []
        for view in views:
            for text in view.texts():
                if text not in texts:
                    texts.append(text)
        for view in views:
            for sequence, merged in view.sequences():
                skip = self._allow.covered(sequence)
                soft = guild_allow.covered(sequence) if guild_allow else set()
                for index in indexes:
                    index.match_sequence(sequence, found, skip, soft, merged)
            for letters in view.letter_runs:
                for index in indexes:
                    index.match_letter_run(letters, found)
        for index in indexes:
            index.match_patterns(texts, timeout, found)
        return list(found.matches.values()), texts[0] if texts else ""

    def check(
        self,
        prompt: str,
        negative: str = "",
        *,
        channel: ChannelFlags | None = None,
        guild: GuildSafety | None = None,
    ) -> PromptVerdict:
        """The verdict on ``prompt`` in ``channel`` of ``guild`` (default: an SFW channel).

        ``negative`` is accepted so callers pass what they have, and deliberately not checked.
        Never raises on content: a prompt that cannot be checked (too long, a pattern that timed
        out) is not allowed, with a reason.
        """
        del negative  # terms in the negative prompt steer away from them; they are fine
        started = time.perf_counter()
        channel = channel or ChannelFlags()
        guild = guild or GuildSafety()
        if len(prompt) > self.config.max_prompt_chars:
            return _unchecked(
                f"This prompt is {len(prompt):,} characters long; prompts over "
                f"{self.config.max_prompt_chars:,} characters are not checked or generated.",
                started,
            )
        try:
            matches, normalized = self.find(prompt, guild.term_list())
        except TimeoutError:
            return _unchecked(
                "A term pattern took too long on this prompt; shorten the prompt.", started
            )
        verdict = self._judge(matches, normalized, channel, guild)
        return verdict.model_copy(update={"seconds": time.perf_counter() - started})

    async def check_async(
        self,
        prompt: str,
        negative: str = "",
        *,
        channel: ChannelFlags | None = None,
        guild: GuildSafety | None = None,
    ) -> PromptVerdict:
        """``check`` in a worker thread, for use on the bot's event loop."""
        return await asyncio.to_thread(self.check, prompt, negative, channel=channel, guild=guild)

    def _judge(
        self,
        matches: list[tuple[TermMatch, bool]],
        normalized: str,
        channel: ChannelFlags,
        guild: GuildSafety,
    ) -> PromptVerdict:
        # The absolute rule looks at every match, guild exemptions included: it cannot be
        # switched off.
        hit = {m.category for m, _exempt in matches}
        absolute = "sexual" in hit and "minors" in hit
        kept = [m for m, exempt in matches if absolute or not exempt]
        categories: list[Category] = []
        for m in kept:
            if m.category not in categories:
                categories.append(m.category)
        mature_ok = mature_allowed(channel, guild)
        blocking = [
            c
            for c in categories
            if CATEGORY_EFFECTS[c] == "block" or (CATEGORY_EFFECTS[c] == "mature" and not mature_ok)
        ]
        if absolute:
            blocking = ["sexual", "minors"]
            reason = ABSOLUTE_REASON
        elif blocking:
            words = ", ".join(sorted({m.found for m in kept if m.category in blocking}))
            where = (
                "in this channel"
                if any(CATEGORY_EFFECTS[c] == "mature" for c in blocking)
                else "here"
            )
            reason = f"This prompt is not allowed {where}: {', '.join(blocking)} ({words})."
        else:
            reason = ""
        return PromptVerdict(
            allowed=not blocking,
            categories=categories,
            matches=kept,
            blocking=blocking,
            absolute=absolute,
            reason=reason,
            normalized=normalized[:500],
        )
