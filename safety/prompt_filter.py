"""The prompt filter: normalised whole-word matching of term lists, and the absolute rule.

Only the positive prompt is checked: people write ``nsfw, nude`` in the negative prompt to steer
away from it. Matching is done on words (see ``safety.normalize``), through a dictionary keyed by
each word's letter skeleton, so its cost grows with the prompt's length and not with the list's.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import regex
from pydantic import BaseModel, ConfigDict, Field

from safety.config import SafetyConfig
from safety.models import ChannelFlags, GuildSafety
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
    if rest and not (plural and rest in ("s", "es")):
        return False
    counts = token.counts
    # ``ass`` + ``es``: the token's last run of the term may have absorbed the plural ``s``.
    return all(counts[i] >= wanted.counts[i] for i in range(n))


class _Index:
    """Terms by the skeleton of their first word; patterns compiled once."""

    def __init__(self, entries: Iterable[tuple[GuildTerm, Origin]]) -> None:
        self.by_first: dict[str, list[_Entry]] = {}
        self.single_skeletons: dict[str, list[_Entry]] = {}
        self.longest = 0
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
            self.longest = max(self.longest, len(entry.words[0].skeleton))

    def match_sequence(
        self, words: tuple[str, ...], found: dict[tuple[str, str], TermMatch]
    ) -> None:
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
                        text = " ".join(words[i : i + last + 1])
                        _add(found, entry.term, text, entry.origin)

    def match_letter_run(self, letters: str, found: dict[tuple[str, str], TermMatch]) -> None:
        """Terms spelled out inside a run of single letters (``a n u d e`` → ``anude``)."""
        run = runs(letters)
        skeleton = run.skeleton
        for start in range(len(skeleton)):
            for end in range(start + 2, min(len(skeleton), start + self.longest) + 1):
                for entry in self.single_skeletons.get(skeleton[start:end], ()):
                    wanted = entry.words[0].counts
                    have = run.counts[start:end]
                    if all(h >= w for h, w in zip(have, wanted, strict=True)):
                        _add(found, entry.term, entry.term.text, entry.origin)

    def match_patterns(
        self, texts: list[str], timeout: float, found: dict[tuple[str, str], TermMatch]
    ) -> None:
        for pattern, term, origin in self.patterns:
            for text in texts:
                hit = pattern.search(text, timeout=timeout)
                if hit is not None:
                    _add(found, term, hit.group(), origin)
                    break


def _add(
    found: dict[tuple[str, str], TermMatch], term: GuildTerm, text: str, origin: Origin
) -> None:
    key = (term.category, term.text)
    if key not in found:
        found[key] = TermMatch(term=term.text, found=text, category=term.category, origin=origin)


class PromptFilter:
    """Checks positive prompts against the shipped list, the instance file and a guild's terms.

    Thread-safe after construction; compiled guild lists are cached by their content.
    """

    def __init__(self, config: SafetyConfig | None = None) -> None:
        self.config = config or SafetyConfig()
        entries: list[tuple[GuildTerm, Origin]] = [(t, "shipped") for t in shipped_terms().terms]
        self._instance_exemptions: tuple[str, ...] = ()
        if self.config.terms_file is not None:
            extra = load_terms_file(self.config.terms_file)
            entries += [(t, "instance") for t in extra.terms]
            self._instance_exemptions = extra.exemptions
        self._base = _Index(entries)
        self._guild_cache: OrderedDict[tuple[GuildTerm, ...], _Index] = OrderedDict()

    def _guild_index(self, terms: tuple[GuildTerm, ...]) -> _Index | None:
        if not terms:
            return None
        index = self._guild_cache.get(terms)
        if index is None:
            index = _Index((t, "guild") for t in terms)
            self._guild_cache[terms] = index
            while len(self._guild_cache) > 256:
                self._guild_cache.popitem(last=False)
        return index

    def find(self, prompt: str, guild_terms: TermList | None = None) -> tuple[list[TermMatch], str]:
        """Every term in ``prompt`` (before exemptions), and the prompt as read."""
        found: dict[tuple[str, str], TermMatch] = {}
        indexes = [self._base]
        guild_index = self._guild_index(guild_terms.terms if guild_terms else ())
        if guild_index is not None:
            indexes.append(guild_index)
        timeout = self.config.regex_timeout_ms / 1000
        views = readings(prompt)
        texts: list[str] = []
        for view in views:
            for text in view.texts():
                if text not in texts:
                    texts.append(text)
        for index in indexes:
            for view in views:
                for sequence in view.sequences():
                    index.match_sequence(sequence, found)
                for letters in view.letter_runs:
                    index.match_letter_run(letters, found)
            index.match_patterns(texts, timeout, found)
        return list(found.values()), texts[0] if texts else ""

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
            return PromptVerdict(
                allowed=False,
                categories=[],
                matches=[],
                blocking=[],
                absolute=False,
                reason=(
                    f"This prompt is {len(prompt):,} characters long; prompts over "
                    f"{self.config.max_prompt_chars:,} characters are not checked or generated."
                ),
                normalized="",
                seconds=time.perf_counter() - started,
            )
        try:
            matches, normalized = self.find(prompt, guild.term_list())
        except TimeoutError:
            return PromptVerdict(
                allowed=False,
                categories=[],
                matches=[],
                blocking=[],
                absolute=False,
                reason="A term pattern took too long on this prompt; shorten the prompt.",
                normalized="",
                seconds=time.perf_counter() - started,
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
        matches: list[TermMatch],
        normalized: str,
        channel: ChannelFlags,
        guild: GuildSafety,
    ) -> PromptVerdict:
        # The absolute rule looks at every match, exemptions included: it cannot be switched off.
        hit = {m.category for m in matches}
        absolute = "sexual" in hit and "minors" in hit
        exempt = set(self._instance_exemptions) | set(guild.term_list().exemptions)
        kept = [m for m in matches if m.term not in exempt and m.found not in exempt]
        if absolute:
            kept = matches
        categories: list[Category] = []
        for m in kept:
            if m.category not in categories:
                categories.append(m.category)
        mature_ok = channel.nsfw and guild.allow_nsfw_in_age_restricted
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
