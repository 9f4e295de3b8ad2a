"""The shipped term lists in every supported language, and their word forms.

``safety/terms.toml`` holds English; ``safety/lang/<code>.toml`` the others (es, fr, de, pt, it,
nl, pl, ru, ja, zh, ko), in the same format. Terms are kept as written (lower case, accents and
scripts kept): the prompt filter decides per term whether it is matched in the Latin reading of a
prompt, the native one, or inside runs of Chinese, Japanese or Korean text.

``safety/data/word_forms.json`` maps each listed word to its other forms, built from the
lemmatiser simplemma by ``scripts/build_word_forms.py``.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from safety.errors import InvalidSafetyInput
from safety.terms import CATEGORIES, Category

LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "nl", "pl", "ru", "ja", "zh", "ko")


@dataclass(frozen=True)
class LexTerm:
    """One shipped term (or pattern) of one language, lower case, as written."""

    text: str
    category: Category
    lang: str
    regex: bool = False


@dataclass(frozen=True)
class Lexicon:
    terms: tuple[LexTerm, ...]
    exemptions: tuple[str, ...]
    not_minor: tuple[str, ...]


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidSafetyInput(where, "must be a list of strings")
    return [v.casefold() for v in value]


def parse_language(data: dict[str, Any], lang: str, source: str) -> Lexicon:
    """A language file's terms; the structure is checked, the words are kept as written."""
    terms: list[LexTerm] = []
    phrases: dict[str, list[str]] = {"exempt": [], "not_minor": []}
    for key, value in data.items():
        if key in ("exempt", "not_minor", "not_forms"):
            strings = _strings(value, f"{source}: {key}")
            if key != "not_forms":
                phrases[key] += strings
            continue
        if key not in CATEGORIES or not isinstance(value, dict):
            raise InvalidSafetyInput(f"{source}: [{key}]", "unknown category or not a table")
        for kind in ("terms", "regex"):
            for entry in _strings(value.get(kind, []), f"{source}: {key}.{kind}"):
                terms.append(LexTerm(entry, key, lang, kind == "regex"))  # type: ignore[arg-type]
    return Lexicon(tuple(terms), tuple(phrases["exempt"]), tuple(phrases["not_minor"]))


def _read(path: str) -> dict[str, Any]:
    return tomllib.loads(resources.files("safety").joinpath(path).read_text(encoding="utf-8"))


@cache
def shipped_lexicon() -> Lexicon:
    """Every shipped language's terms, English first."""
    parts = [parse_language(_read("terms.toml"), "en", "safety/terms.toml")]
    for lang in LANGUAGES[1:]:
        parts.append(parse_language(_read(f"lang/{lang}.toml"), lang, f"safety/lang/{lang}.toml"))
    return Lexicon(
        tuple(t for part in parts for t in part.terms),
        tuple(p for part in parts for p in part.exemptions),
        tuple(p for part in parts for p in part.not_minor),
    )


@cache
def word_forms() -> dict[str, dict[str, tuple[str, ...]]]:
    """Language → listed word → its other forms (from the lemmatiser)."""
    text = resources.files("safety").joinpath("data/word_forms.json").read_text("utf-8")
    raw: dict[str, dict[str, list[str]]] = json.loads(text)
    return {lang: {w: tuple(f) for w, f in words.items()} for lang, words in raw.items()}
