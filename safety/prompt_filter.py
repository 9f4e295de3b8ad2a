"""The prompt filter: term lists in twelve languages matched against every text of a request.

Only positive texts are checked: people write ``nsfw, nude`` in the negative prompt to steer away
from it. A request may condition its images with several texts (wildcard variants, prompt-editing
and alternation segments); ``check_many`` reads them all and gives one verdict, so a term in any
of them counts.

Each text is read in two ways (``safety.normalize``): the Latin reading (look-alike letters,
accents, leetspeak, spaced and repeated letters undone) and the native reading (Cyrillic, CJK and
accented spellings as written). Besides whole words and their forms from the lemmatiser, shipped
terms are found misspelt (``safety.fuzzy``), joined to other words or split apart
(``safety.compounds``), split by prompt syntax (``safety.prompt_syntax``) and inside CJK text.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from safety import lookalikes
from safety.compounds import segment, split_pairs
from safety.config import SafetyConfig
from safety.fuzzy import FuzzyIndex
from safety.lexicon import Lexicon, shipped_lexicon, word_forms
from safety.lookalikes import script_of
from safety.matching import (
    Budget,
    Entry,
    Hit,
    Index,
    Origin,
    Positions,
    SubstringIndex,
    Term,
    near,
    word_matches,
)
from safety.models import ChannelFlags, GuildSafety, mature_allowed
from safety.normalize import (
    Reading,
    fold,
    fold_native,
    latin_readings,
    native_reading,
    runs,
)
from safety.prompt_syntax import without_syntax
from safety.terms import (
    CATEGORY_EFFECTS,
    SEXUALISING,
    Category,
    GuildTerm,
    TermList,
    load_terms_file,
)
from safety.vocabulary import (
    AMBIGUOUS_ZIPF,
    FOREIGN_COLLISION_ZIPF,
    OTHER_LANGUAGES,
    english_zipf,
    is_known,
    speaks,
    zipf_in,
)

ABSOLUTE_REASON = (
    "This prompt combines sexual content with a minor. That is never allowed in any channel, "
    "and the attempt has been recorded for the moderators."
)
_CJK_SCRIPTS = frozenset({"HAN", "HIRAGANA", "KATAKANA", "HANGUL"})
_WORD_CACHE = 50_000
FOREIGN_FUZZY = 8
# A word with one or two letters masked: p*rn, n*de, s*x, p**n.
_MASKED = re.compile(r"\b[a-z]+(?:[*#?%]{1,2}[a-z]+)+")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_VOWELS = "aeiouy"
# Per word: misspelt entries (entry, which of its words) and joined-word hits.
_Analysis = tuple[list[tuple[Entry, int]], list[Hit]]


def _unmask(token: str) -> list[str]:
    """Every reading of a masked word: one mask any letter, two masks vowels."""
    masks = [i for i, c in enumerate(token) if c in "*#?%"]
    if not masks or len(masks) > 2:
        return []
    alphabet = _LETTERS if len(masks) == 1 else _VOWELS
    out = [""]
    for char in token:
        choices = alphabet if char in "*#?%" else char
        out = [prefix + c for prefix in out for c in choices]
    return out


def _around(sequence: tuple[str, ...], position: int, entry: Entry, index: int) -> str | None:
    """The words of ``entry`` around a misspelt word at ``position`` (its ``index``-th word), if
    the other words are there as written; the found text, else ``None``."""
    start = position - index
    end = start + len(entry.words)
    if start < 0 or end > len(sequence):
        return None
    last = len(entry.words) - 1
    for k, forms in enumerate(entry.words):
        if k == index:
            continue
        token = runs(sequence[start + k])
        if not any(word_matches(token, form, k == last) for form in forms):
            return None
    return " ".join(sequence[start:end])


class TermMatch(BaseModel):
    model_config = ConfigDict(frozen=True)

    term: str = Field(description="The listed term or pattern that matched.")
    found: str = Field(description="The normalised words of the prompt that matched it.")
    category: Category
    origin: Origin
    lang: str = Field(default="en", description="The language of the list the term is from.")
    via: str = Field(
        default="word",
        description="How it was found: word, letters, misspelling, joined, split, pattern, text.",
    )


class PromptVerdict(BaseModel):
    """What the filter found in a request's positive texts, and whether it may be generated."""

    model_config = ConfigDict(frozen=True)

    allowed: bool
    categories: list[Category] = Field(description="Categories hit, in list order, no repeats.")
    matches: list[TermMatch]
    blocking: list[Category] = Field(description="The categories that block it in this channel.")
    absolute: bool = Field(description="Sexual + minor: blocked everywhere, must be recorded.")
    reason: str = Field(description="A sentence for the user; empty when allowed.")
    normalized: str = Field(description="The (first) prompt as the filter read it (500 chars).")
    seconds: float = 0.0
    minor: bool = Field(
        default=False,
        description="Names a minor (a word, age or school grade in any supported language), "
        "whatever the exemptions: a flagged image of such a prompt is withheld everywhere.",
    )
    texts: int = Field(default=1, description="How many distinct texts were checked.")


def _script_kind(text: str) -> str:
    """``cjk``, ``cyrillic`` or ``latin``: where a term is matched."""
    scripts = {script_of(c) for c in text if c.isalpha()}
    if scripts & _CJK_SCRIPTS:
        return "cjk"
    if "CYRILLIC" in scripts:
        return "cyrillic"
    return "latin"


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


@dataclass
class _Shipped:
    """The shipped lists (and the instance file) as indexes; built once per filter."""

    latin: Index
    native: Index
    instance: Index  # the instance file's patterns (its words are in ``latin``)
    text: SubstringIndex
    fuzzy: FuzzyIndex[tuple[Entry, int]]  # a misspelt word of an entry, and its position
    exempt: Index
    not_minor: Index
    exempt_texts: frozenset[str]


def _phrase_index(phrases: Iterable[str]) -> Index:
    index = Index()
    for phrase in phrases:
        words = fold(phrase).split()
        if words:
            index.add(Term(" ".join(words), "guild", "shipped"), [[w] for w in words])
    return index


def _ambiguity(lexicon: Lexicon) -> Callable[[str, str, str], bool]:
    """Whether a foreign form is also a common word of another language where it means
    something else (``kind``, ``nina``, ``nu`` in English; ``sein`` in German)."""
    forms = word_forms()
    meaning: dict[str, set[tuple[str, str]]] = {}
    for term in lexicon.terms:
        if term.regex or _script_kind(term.text) != "latin" or " " in term.text:
            continue
        for form in (term.text, *forms.get(term.lang, {}).get(term.text, ())):
            meaning.setdefault(fold(form), set()).add((term.lang, term.category))

    def ambiguous(form: str, lang: str, category: str) -> bool:
        if lang == "en":
            return False
        same = meaning.get(form, set())
        for other in ("en", *OTHER_LANGUAGES):
            if other == lang or (other, category) in same:
                continue
            floor = AMBIGUOUS_ZIPF if other == "en" else FOREIGN_COLLISION_ZIPF
            if (english_zipf(form) if other == "en" else zipf_in(other, form)) >= floor:
                return True
        return False

    return ambiguous


@lru_cache(maxsize=4)
def _build_shipped(instance: TermList | None) -> _Shipped:
    """The indexes of the shipped lists and an instance file; shared by filters with the same
    instance file (building them takes most of a second)."""
    lexicon = shipped_lexicon()
    forms = word_forms()
    ambiguous = _ambiguity(lexicon)
    latin, native, text = Index(), Index(), SubstringIndex()
    for lex in lexicon.terms:
        term = Term(lex.text, lex.category, "shipped", lex.lang)
        kind = _script_kind(lex.text)
        if lex.regex:
            (latin if lex.text.isascii() else native).add_pattern(lex.text, term)
            continue
        if kind == "cjk":
            text.add(fold_native(lex.text), term)
            continue
        table = forms.get(lex.lang, {})
        written = [[w, *table.get(w, ())] for w in lex.text.split()]
        if kind == "cyrillic":
            native.add(term, [_unique(fold_native(f) for f in fs) for fs in written])
            continue
        plain = [_unique(fold(f) for f in fs) for fs in written]
        unclear = {f for f in plain[0] if ambiguous(f, lex.lang, lex.category)}
        latin.add(term, plain, unclear if len(plain) == 1 else ())
        if len(written) == 1 and unclear:  # niña stays clear with its accent
            accented = [f for f in written[0] if fold(f) in unclear and fold_native(f) != fold(f)]
            if accented:
                native.add(term, [_unique(fold_native(f) for f in accented)])
    exemptions = list(lexicon.exemptions)
    patterns = Index()
    if instance is not None:
        for guild_term in instance.terms:
            _add_listed(patterns if guild_term.regex else latin, guild_term, "instance")
        exemptions += instance.exemptions
    entries = {
        id(entry): entry
        for items in latin.by_first.values()
        for entry, _form, unclear in items
        if not unclear and entry.term.origin == "shipped"
    }
    # Misspellings of English terms, and of long foreign forms only: short foreign forms are
    # many and close to names (Polish "nagimi" is one letter from "Nagini").
    fuzzy_terms = [
        (form.skeleton, (entry, position))
        for entry in entries.values()
        for position, forms in enumerate(entry.words)
        for form in forms
        if form.text.isalpha() and (entry.term.lang == "en" or len(form.text) >= FOREIGN_FUZZY)
    ]
    not_minor = list(lexicon.not_minor) + list(instance.not_minor if instance else ())
    return _Shipped(
        latin=latin,
        native=native,
        instance=patterns,
        text=text,
        fuzzy=FuzzyIndex(fuzzy_terms),
        exempt=_phrase_index(exemptions),
        not_minor=_phrase_index(not_minor),
        exempt_texts=frozenset(fold(p) for p in exemptions),
    )


def _add_listed(index: Index, term: GuildTerm, origin: Origin) -> None:
    listed = Term(term.text, term.category, origin)
    if term.regex:
        index.add_pattern(term.text, listed)
    else:
        index.add(listed, [[w] for w in term.text.split()])


def _guild_index(terms: Sequence[GuildTerm]) -> Index:
    index = Index()
    for term in terms:
        _add_listed(index, term, "guild")
    return index


def _unchecked(reason: str, started: float, texts: int) -> PromptVerdict:
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
        texts=texts,
    )


class _Scan:
    """One check: the hits found in a request's texts, with what is needed to judge them."""

    def __init__(
        self,
        shipped: _Shipped,
        guild: Index | None,
        guild_allow: Index | None,
        guild_exempt: frozenset[str],
        budget: Budget,
        words: OrderedDict[str, _Analysis],
    ) -> None:
        self.shipped = shipped
        self.guild = guild
        self.guild_allow = guild_allow
        self.guild_exempt = guild_exempt
        self.budget = budget
        self.words = words
        self.hits: list[Hit] = []
        self.tokens: set[str] = set()

    def text(self, text: str) -> str:
        """Scan one text; returns its normalised Latin reading."""
        folded = fold(text)
        native = fold_native(text)
        views = latin_readings(folded)
        natives = [native]
        joined = without_syntax(text)
        if joined is not None:
            views += latin_readings(fold(joined))
            natives.append(fold_native(joined))
        self.masked(folded)
        latin_texts: list[str] = []
        for view in views:
            self.latin_view(view)
            latin_texts += view.texts()
        for native_text in _unique(natives):
            self.native_text(native_text)
        latin_texts = _unique(latin_texts)
        self.shipped.latin.match_patterns(latin_texts, None, self.hits)
        self.shipped.instance.match_patterns(latin_texts, self.budget, self.hits)
        if self.guild is not None:
            self.guild.match_patterns(latin_texts, self.budget, self.hits)
        return " ".join(views[0].tokens)

    def latin_view(self, view: Reading) -> None:
        self.tokens.update(view.tokens)
        shipped = self.shipped
        for sequence, merged in view.sequences():
            starts = list(near(merged, len(sequence)))
            positions = Positions(
                skip=shipped.exempt.covered(sequence, starts),
                not_minor=shipped.not_minor.covered(sequence, starts),
                soft=self.guild_allow.covered(sequence, starts) if self.guild_allow else set(),
            )
            handled = shipped.latin.match_sequence(sequence, self.hits, positions, merged)
            if self.guild is not None:
                self.guild.match_sequence(sequence, self.hits, positions, merged)
            handled |= positions.skip
            for position in range(len(sequence)):
                if position in handled or (merged is not None and position not in merged):
                    continue
                self.word(sequence, position, exempt=position in positions.soft)
        for letters in view.letter_runs:
            shipped.latin.match_letter_run(letters, self.hits)
            if self.guild is not None:
                self.guild.match_letter_run(letters, self.hits)
        for entry, found in split_pairs(view.tokens, shipped.latin):
            self.hits.append(Hit(entry.term, found, "split"))

    def word(self, sequence: tuple[str, ...], position: int, exempt: bool) -> None:
        """Misspelt and joined terms in a word that matched nothing as written."""
        word = sequence[position]
        if len(word) < 4 or not word.isalpha():
            return
        analysis = self.words.get(word)
        if analysis is None:
            analysis = self._analyse(word)
            self.words[word] = analysis
            if len(self.words) > _WORD_CACHE:
                self.words.popitem(last=False)
        near, joined = analysis
        for entry, index in near:
            found = _around(sequence, position, entry, index)
            if found is not None:
                self.hits.append(Hit(entry.term, found, "misspelling", exempt))
        for hit in joined:
            self.hits.append(Hit(hit.term, hit.found, hit.via, exempt, hit.ambiguous))

    def _analyse(self, word: str) -> _Analysis:
        if is_known(word, strict=True):
            return [], []
        near = [payload for _term, payload in self.shipped.fuzzy.near(runs(word).skeleton)]
        if is_known(word):  # a rare word: maybe a typo of a term, never a compound
            return near, []
        joined = [
            Hit(entry.term, piece, "joined", False, unclear)
            for entry, unclear, piece in segment(word, self.shipped.latin)
        ]
        return near, joined

    def masked(self, folded: str) -> None:
        """Words with letters masked by ``*``, ``#``, ``?`` or ``%`` (``p*rn``, ``n*de``)."""
        for token in _MASKED.findall(folded):
            for candidate in _unmask(token):
                for entry, unclear in self.shipped.latin.lookup(candidate):
                    if not unclear:
                        self.hits.append(Hit(entry.term, token, "letters"))

    def native_text(self, native: str) -> None:
        view = native_reading(native)
        self.tokens.update(view.tokens)
        for sequence, merged in view.sequences():
            self.shipped.native.match_sequence(sequence, self.hits, Positions(), merged)
        for letters in view.letter_runs:
            self.shipped.native.match_letter_run(letters, self.hits)
        self.shipped.text.match(native, self.hits)
        self.shipped.native.match_patterns([native], None, self.hits)

    def results(self) -> list[tuple[TermMatch, bool]]:
        """Each term once, with whether the guild exempted it; ambiguous foreign words only
        where their language is evidently in use."""
        clear = {h.term.lang for h in self.hits if not h.ambiguous and h.term.origin == "shipped"}
        unclear: dict[str, set[str]] = {}
        for hit in self.hits:
            if hit.ambiguous:
                unclear.setdefault(hit.term.lang, set()).add(hit.term.text)
        spoken = {
            lang
            for lang, terms in unclear.items()
            if lang in clear
            or len(terms) > 1
            or any(speaks(lang, token) for token in self.tokens if token not in terms)
        }
        found: dict[tuple[str, str], tuple[TermMatch, bool]] = {}
        for hit in self.hits:
            if hit.ambiguous and hit.term.lang not in spoken:
                continue
            minor = hit.term.category == "minors"
            if not minor and (hit.found in self.shipped.exempt_texts):
                continue
            exempt = not minor and (
                hit.exempt or hit.found in self.guild_exempt or hit.term.text in self.guild_exempt
            )
            key = (hit.term.category, hit.found)
            if key not in found or (found[key][1] and not exempt):
                match = TermMatch(
                    term=hit.term.text,
                    found=hit.found,
                    category=hit.term.category,
                    origin=hit.term.origin,
                    lang=hit.term.lang,
                    via=hit.via,
                )
                found[key] = (match, exempt)
        return list(found.values())


class PromptFilter:
    """Checks positive prompts against the shipped lists, the instance file and a guild's terms.

    Thread-safe after construction; compiled guild lists are cached by their content.
    """

    def __init__(self, config: SafetyConfig | None = None) -> None:
        self.config = config or SafetyConfig()
        lookalikes.warm()  # once per process: no prompt pays for loading data
        instance = None
        if self.config.terms_file is not None:
            instance = load_terms_file(self.config.terms_file)
        self._shipped = _build_shipped(instance)
        self._cache: OrderedDict[tuple[object, ...], Index] = OrderedDict()
        self._words: OrderedDict[str, _Analysis] = OrderedDict()
        self._lock = threading.Lock()

    def _cached(self, key: tuple[object, ...], build: Callable[[], Index]) -> Index:
        with self._lock:
            index = self._cache.get(key)
            if index is None:
                index = self._cache[key] = build()
                while len(self._cache) > 256:
                    self._cache.popitem(last=False)
            return index

    def _scan(self, texts: Sequence[str], guild_terms: TermList) -> tuple[_Scan, str]:
        terms, phrases = guild_terms.terms, guild_terms.exemptions
        guild = self._cached(("terms", *terms), lambda: _guild_index(terms)) if terms else None
        allow = (
            self._cached(("exempt", *phrases), lambda: _phrase_index(phrases)) if phrases else None
        )
        budget = Budget(self.config.regex_timeout_ms / 1000, self.config.regex_budget_ms / 1000)
        # The word cache is shared between threads: its single operations are atomic.
        scan = _Scan(
            self._shipped, guild, allow, frozenset(fold(p) for p in phrases), budget, self._words
        )
        normalized = [scan.text(text) for text in texts]
        return scan, normalized[0] if normalized else ""

    def find(
        self, prompt: str, guild_terms: TermList | None = None
    ) -> tuple[list[tuple[TermMatch, bool]], str]:
        """Every term in ``prompt`` with whether the guild exempted it, and the prompt as read.

        Shipped and instance exemptions (``naked eye``) mean "not a term here"; a guild's
        exemptions hold for everything but the absolute rule. No exemption removes a minor.
        """
        scan, normalized = self._scan([prompt], guild_terms or TermList())
        return scan.results(), normalized

    def check(
        self,
        prompt: str,
        negative: str = "",
        *,
        channel: ChannelFlags | None = None,
        guild: GuildSafety | None = None,
    ) -> PromptVerdict:
        """The verdict on one positive prompt (``check_many`` with one text).

        ``negative`` is accepted so callers pass what they have, and deliberately not checked.
        """
        del negative  # terms in the negative prompt steer away from them; they are fine
        return self.check_many([prompt], channel=channel, guild=guild)

    def check_many(
        self,
        texts: Iterable[str],
        *,
        channel: ChannelFlags | None = None,
        guild: GuildSafety | None = None,
    ) -> PromptVerdict:
        """One verdict on every positive text that conditions any image of a request.

        Pass them all, as they are: the prompt as typed, each wildcard variant, each
        prompt-editing and alternation segment, each AND part. Words split over prompt syntax
        (``nu BREAK de``, ``(nak:1.1)(ed:1.1)``) are joined here. A term in any text counts, and
        a minor in one text with sexual content in another is the absolute rule. Never raises on
        content: texts that cannot be checked (too long, patterns out of time) are not allowed.
        """
        started = time.perf_counter()
        channel = channel or ChannelFlags()
        guild = guild or GuildSafety()
        unique = _unique(texts)
        total = sum(len(t) for t in unique)
        if total > self.config.max_prompt_chars:
            return _unchecked(
                f"This prompt is {total:,} characters long; prompts over "
                f"{self.config.max_prompt_chars:,} characters are not checked or generated.",
                started,
                len(unique),
            )
        try:
            scan, normalized = self._scan(unique, guild.term_list())
        except TimeoutError:
            return _unchecked(
                "A term pattern took too long on this prompt; shorten the prompt.",
                started,
                len(unique),
            )
        verdict = self._judge(scan.results(), normalized, channel, guild)
        return verdict.model_copy(
            update={"seconds": time.perf_counter() - started, "texts": len(unique)}
        )

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

    async def check_many_async(
        self,
        texts: Iterable[str],
        *,
        channel: ChannelFlags | None = None,
        guild: GuildSafety | None = None,
    ) -> PromptVerdict:
        """``check_many`` in a worker thread, for use on the bot's event loop."""
        return await asyncio.to_thread(self.check_many, list(texts), channel=channel, guild=guild)

    def _judge(
        self,
        matches: list[tuple[TermMatch, bool]],
        normalized: str,
        channel: ChannelFlags,
        guild: GuildSafety,
    ) -> PromptVerdict:
        # The absolute rule looks at every match, guild exemptions included: it cannot be
        # switched off. Sexualising words that are fine alone ("sexy", "bikini") count here.
        hit = {m.category for m, _exempt in matches}
        minor = "minors" in hit
        absolute = minor and bool(hit & SEXUALISING)
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
            minor=minor,
        )
