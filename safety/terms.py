"""Term lists as data: the shipped list, an instance file, a guild's additions and exemptions.

A term file is TOML with one table per category and an optional ``exempt`` list::

    exempt = ["gore"]               # guild files: words this guild allows

    [guild]                         # sexual, suggestive, violence-gore, hate, self-harm, minors
    terms = ["spoilers", "two words"]   # or guild
    regex = ['\\bep(isode)? ?\\d+\\b']

The shipped files may also hold ``not_minor`` (phrases in which a minors word names no person:
``kid goat``) and ``not_forms`` (forms the lemmatiser gives that mean something else).

Guild patterns are user input running inside the bot, so every pattern is vetted when it is added
(``validate_guild_term``): length, syntax, no empty match, and no shape that backtracks
exponentially or polynomially (``safety.pattern_vet``, by analysis of the parsed pattern).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import regex
from pydantic import BaseModel, ConfigDict, Field

from safety.errors import InvalidSafetyInput
from safety.normalize import normalize
from safety.pattern_vet import UnsafePattern, vet_pattern

Category = Literal["sexual", "suggestive", "violence-gore", "hate", "self-harm", "minors", "guild"]
Effect = Literal["mature", "block", "indicator"]

CATEGORIES: tuple[Category, ...] = (
    "sexual",
    "suggestive",
    "violence-gore",
    "hate",
    "self-harm",
    "minors",
    "guild",
)
# Fixed in code on purpose: the absolute rule depends on "sexual", "suggestive" and "minors", and
# no file or guild setting may change what a category does.
CATEGORY_EFFECTS: dict[Category, Effect] = {
    "sexual": "mature",
    "suggestive": "indicator",
    "violence-gore": "mature",
    "hate": "block",
    "self-harm": "block",
    "minors": "indicator",
    "guild": "block",
}
# With a minor, these make a prompt fall under the absolute rule.
SEXUALISING: frozenset[Category] = frozenset({"sexual", "suggestive"})

MAX_TERM_CHARS = 100
MAX_PATTERN_CHARS = 200
MAX_TERMS_PER_FILE = 5000


class GuildTerm(BaseModel):
    """One blocked word, phrase or pattern, validated by ``validate_guild_term``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_PATTERN_CHARS)
    regex: bool = False
    category: Category = "guild"


class TermList(BaseModel):
    """Terms and exemptions from one file or one guild's settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    terms: tuple[GuildTerm, ...] = ()
    exemptions: tuple[str, ...] = ()
    not_minor: tuple[str, ...] = Field(
        default=(), description="Phrases in which a minors word names no person (shipped only)."
    )


def validate_guild_term(
    text: str, is_regex: bool, category: str = "guild", field: str = "term"
) -> GuildTerm:
    """Check a term before it is stored; raises ``InvalidSafetyInput`` naming the problem.

    Plain terms are stored normalised (what the matcher compares); patterns as written.
    """
    if category not in CATEGORIES:
        raise InvalidSafetyInput(
            f"{field}.category",
            f"unknown category {category!r}; use one of {', '.join(CATEGORIES)}",
        )
    if not is_regex:
        if len(text) > MAX_TERM_CHARS:
            raise InvalidSafetyInput(field, f"a term is at most {MAX_TERM_CHARS} characters")
        normal = normalize(text)
        if not normal:
            raise InvalidSafetyInput(field, f"{text!r} has no letters or digits to match")
        if len(normal) > MAX_PATTERN_CHARS:  # ligatures and symbols can expand (ﬃ → ffi)
            raise InvalidSafetyInput(
                field,
                f"normalised, this term is {len(normal)} characters long; "
                f"at most {MAX_PATTERN_CHARS} are stored",
            )
        return GuildTerm(text=normal, regex=False, category=category)  # type: ignore[arg-type]
    if not text or len(text) > MAX_PATTERN_CHARS:
        raise InvalidSafetyInput(field, f"a pattern is 1..{MAX_PATTERN_CHARS} characters")
    try:
        compiled = regex.compile(text, regex.IGNORECASE)
        vet_pattern(text)
    except UnsafePattern as exc:
        raise InvalidSafetyInput(field, str(exc)) from exc
    except (regex.error, re.error, RecursionError, OverflowError) as exc:
        raise InvalidSafetyInput(field, f"invalid pattern {text!r}: {exc}") from exc
    if compiled.search("") is not None:
        raise InvalidSafetyInput(field, f"pattern {text!r} matches empty text, so every prompt")
    return GuildTerm(text=text, regex=True, category=category)  # type: ignore[arg-type]


def parse_terms(data: dict[str, Any], source: str) -> TermList:
    """Validate a parsed term file; errors name the file and the entry."""
    terms: list[GuildTerm] = []
    phrases: dict[str, list[str]] = {"exempt": [], "not_minor": []}
    for key, value in data.items():
        if key in ("exempt", "not_minor", "not_forms"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidSafetyInput(f"{source}: {key}", "must be a list of strings")
            if key == "not_forms":
                continue  # read by scripts/build_word_forms.py only
            for i, word in enumerate(value):
                phrases[key].append(
                    validate_guild_term(word, False, field=f"{source}: {key}[{i}]").text
                )
            continue
        if key not in CATEGORIES:
            raise InvalidSafetyInput(
                f"{source}: [{key}]", f"unknown category; use one of {', '.join(CATEGORIES)}"
            )
        if not isinstance(value, dict) or set(value) - {"terms", "regex"}:
            raise InvalidSafetyInput(f"{source}: [{key}]", "a category holds `terms` and `regex`")
        for kind in ("terms", "regex"):
            entries = value.get(kind, [])
            if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
                raise InvalidSafetyInput(f"{source}: {key}.{kind}", "must be a list of strings")
            for i, entry in enumerate(entries):
                terms.append(
                    validate_guild_term(entry, kind == "regex", key, f"{source}: {key}.{kind}[{i}]")
                )
    if len(terms) > MAX_TERMS_PER_FILE:
        raise InvalidSafetyInput(source, f"at most {MAX_TERMS_PER_FILE} terms per list")
    return TermList(
        terms=tuple(terms),
        exemptions=tuple(phrases["exempt"]),
        not_minor=tuple(phrases["not_minor"]),
    )


def load_terms_file(path: Path) -> TermList:
    """Read a term file (UTF-8 TOML); every problem is one error naming the file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidSafetyInput(str(path), f"cannot read the term file: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidSafetyInput(
            str(path), f"is not valid UTF-8 (byte {exc.start}); save the file as UTF-8"
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidSafetyInput(str(path), f"is not valid TOML: {exc}") from exc
    return parse_terms(data, str(path))
