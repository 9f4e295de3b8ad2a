"""Wildcards ``{red|blue|green} car``: one variant per image, drawn from the request's seed.

A small LALR grammar (nesting allowed: ``{a {b|c}|d}``); unbalanced braces stay literal with a
warning. Image ``i`` of a batch draws with ``random.Random(f"{seed}:{i}")`` (SHA-512 seeded, so
neighbouring seeds give unrelated draws): the same seed gives the
same variants on every run and every worker. ``\\{`` ``\\}`` ``\\|`` stay escaped for the
next stage. A pipe outside braces belongs to A1111 alternation and is left alone.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from lark import Lark, Token, Transformer

from prompting.brackets import escape_unbalanced
from prompting.notices import PromptWarning

_GRAMMAR = r"""
start: piece*
alt: piece_in*
?piece: TEXT -> text
      | PIPE -> text
      | ESC -> text
      | wildcard
?piece_in: TEXT -> text
         | ESC -> text
         | wildcard
wildcard: "{" alt (PIPE alt)* "}"

ESC: /\\(.|$)/s
PIPE: "|"
TEXT: /[^{}|\\]+/
"""


@dataclass(frozen=True, slots=True)
class _Choice:
    options: tuple[tuple[str | _Choice, ...], ...]


class _Build(Transformer[Token, Any]):
    def text(self, children: list[Token]) -> str:
        return str(children[0])

    def alt(self, children: list[Any]) -> tuple[str | _Choice, ...]:
        return tuple(children)

    def wildcard(self, children: list[Any]) -> _Choice:
        return _Choice(tuple(child for child in children if not isinstance(child, Token)))

    def start(self, children: list[Any]) -> tuple[str | _Choice, ...]:
        return tuple(children)


@cache
def _parser() -> Lark:
    return Lark(_GRAMMAR, parser="lalr", lexer="contextual", transformer=_Build())


@dataclass(frozen=True)
class Wildcards:
    """A parsed text with its wildcards; ``expand`` draws the variants of a batch."""

    pieces: tuple[str | _Choice, ...]
    warnings: list[PromptWarning]

    @property
    def has_choices(self) -> bool:
        return any(isinstance(piece, _Choice) for piece in self.pieces)

    def expand(self, seed: int, count: int) -> list[str]:
        if not self.has_choices:
            return ["".join(str(p) for p in self.pieces)] * count
        return [self._draw(random.Random(f"{seed}:{index}")) for index in range(count)]

    def _draw(self, rng: random.Random) -> str:
        out: list[str] = []
        stack: list[Iterator[str | _Choice]] = [iter(self.pieces)]
        while stack:
            piece = next(stack[-1], None)
            if piece is None:
                stack.pop()
            elif isinstance(piece, str):
                out.append(piece)
            else:
                stack.append(iter(piece.options[rng.randrange(len(piece.options))]))
        return " ".join("".join(out).split())


def parse_wildcards(text: str) -> Wildcards:
    """Parse normalised text; never raises."""
    balanced, warnings = escape_unbalanced(text, {"{": "}"})
    if not balanced:
        return Wildcards((), warnings)
    pieces: tuple[str | _Choice, ...] = _parser().parse(balanced)  # type: ignore[assignment]
    return Wildcards(pieces, warnings)
