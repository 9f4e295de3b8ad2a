"""The negative prompt: a default per model family (or the guild's), a preset's extras, the user's.

Terms are comma-separated; a term is dropped when an earlier one reads the same ignoring case and
spacing, so a preset and a user that both say ``blurry`` add it once.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Literal

ModelFamily = Literal["sd1", "sd2", "sdxl", "flux", "sd3"]
MODEL_FAMILIES: tuple[ModelFamily, ...] = ("sd1", "sd2", "sdxl", "flux", "sd3")


@cache
def family_defaults() -> dict[str, str]:
    text = resources.files("prompting").joinpath("negatives.toml").read_text(encoding="utf-8")
    return {key: str(value) for key, value in tomllib.loads(text).items()}


def default_negative(family: ModelFamily) -> str:
    return family_defaults()[family]


def split_terms(text: str) -> list[str]:
    """Comma-separated terms, split only outside brackets so ``(a, b:1.2)`` stays one term."""
    terms: list[str] = []
    depth = 0
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            terms.append("".join(current))
            current = []
            continue
        current.append(char)
    terms.append("".join(current))
    return [" ".join(term.split()) for term in terms if term.strip()]


def term_key(term: str) -> str:
    return " ".join(term.casefold().split())


def duplicated_terms(terms: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    repeated: list[str] = []
    for term in terms:
        key = term_key(term)
        if key in seen and term not in repeated:
            repeated.append(term)
        seen.add(key)
    return repeated


def compose_negative(parts: Iterable[str]) -> str:
    """Join the parts' terms in order, each distinct term once."""
    seen: set[str] = set()
    kept: list[str] = []
    for part in parts:
        for term in split_terms(part):
            key = term_key(term)
            if key not in seen:
                seen.add(key)
                kept.append(term)
    return ", ".join(kept)
