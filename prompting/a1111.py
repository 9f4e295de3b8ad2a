"""A1111 (stable-diffusion-webui) prompt syntax, parsed by a grammar into a ``Program``.

Understood: ``(x)`` ×1.1, ``((x))`` ×1.21, ``[x]`` ÷1.1, ``(x:1.3)``, nesting (weights multiply),
``\\(`` ``\\)`` ``\\[`` ``\\]`` ``\\:`` ``\\|`` ``\\{`` ``\\}`` escapes, ``BREAK``, ``AND``
(with ``:weight`` at the end of an AND part), prompt editing ``[from:to:when]``, ``[to:when]``,
``[from::when]`` and alternation ``[a|b]``.

The grammar is LALR with the transformer applied while parsing, so no tree is walked
recursively: brackets nested a thousand deep parse like any other prompt. Unbalanced brackets are
escaped beforehand (``brackets.escape_unbalanced``), so the grammar always accepts its input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from lark import Lark, Token, Transformer

from prompting.brackets import escape_unbalanced
from prompting.notices import PromptWarning, WarningCode
from prompting.program import Alternate, AndPart, Break, Edit, Group, Node, Program, Text

EMPHASIS = 1.1

_GRAMMAR = r"""
start: item*

?item: TEXT -> text
     | WS -> text
     | ESC -> escape
     | COLON -> colon
     | PIPE -> pipe
     | BREAK -> brk
     | AND -> and_
     | "(" item* ")" -> emphasis
     | "(" item* WEIGHT_END -> weighted
     | "[" item* "]" -> square
     | "[" item* SCHED_END -> scheduled

WEIGHT_END.3: /:[ ]*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[ ]*\)/
SCHED_END.3: /:[ ]*(\d+\.?\d*|\.\d+)[ ]*\]/
BREAK.2: /\bBREAK\b/
AND.2: /\bAND\b/
ESC: /\\(.|$)/s
COLON: ":"
PIPE: "|"
WS: /\s+/
TEXT: /[^\\()\[\]:|\s]+/
"""

# Escapes that mean "this character, literally"; any other backslash becomes a space with a
# warning, because compel has no way to write a literal backslash everywhere.
_ESCAPABLE = frozenset("()[]:|{}")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)$")


@dataclass(frozen=True, slots=True)
class _Marker:
    """A ``:``, ``|`` or ``AND`` whose meaning depends on the bracket around it."""

    kind: str
    text: str


_Item = Node | _Marker


class _Build(Transformer[Token, Any]):
    """Applied by the parser at each reduction (no recursive tree walk afterwards)."""

    def text(self, children: list[Token]) -> list[_Item]:
        return [Text(str(children[0]))]

    def escape(self, children: list[Token]) -> list[_Item]:
        char = str(children[0])[1:]
        if char in _ESCAPABLE:
            return [Text(char)]
        # A backslash that escapes nothing becomes a space: the word boundary it made survives.
        return [Text(" " if char == "\\" else " " + char)]

    def colon(self, children: list[Token]) -> list[_Item]:
        return [_Marker("colon", ":")]

    def pipe(self, children: list[Token]) -> list[_Item]:
        return [_Marker("pipe", "|")]

    def brk(self, children: list[Token]) -> list[_Item]:
        return [Break()]

    def and_(self, children: list[Token]) -> list[_Item]:
        return [_Marker("and", "AND")]

    def emphasis(self, children: list[Any]) -> list[_Item]:
        return [Group(EMPHASIS, _literal(_items(children)))]

    def weighted(self, children: list[Any]) -> list[_Item]:
        weight = float(str(children[-1])[1:-1].strip())
        return [Group(weight, _literal(_items(children[:-1])))]

    def square(self, children: list[Any]) -> list[_Item]:
        items = _items(children)
        options = _split(items, "pipe")
        if len(options) > 1:
            return [Alternate(tuple(_literal(option) for option in options))]
        return [Group(1 / EMPHASIS, _literal(items))]

    def scheduled(self, children: list[Any]) -> list[_Item]:
        when = float(str(children[-1])[1:-1].strip())
        items = _items(children[:-1])
        parts = _split(items, "colon", limit=1)
        if len(parts) == 1:
            return [Edit((), _literal(parts[0]), when)]
        return [Edit(_literal(parts[0]), _literal(parts[1]), when)]

    def start(self, children: list[Any]) -> list[_Item]:
        return _items(children)


def _items(children: list[Any]) -> list[_Item]:
    items: list[_Item] = []
    for child in children:
        items.extend(child)
    return items


def _split(items: list[_Item], kind: str, limit: int = -1) -> list[list[_Item]]:
    parts: list[list[_Item]] = [[]]
    for item in items:
        if isinstance(item, _Marker) and item.kind == kind and limit != 0:
            parts.append([])
            limit -= 1
        else:
            parts[-1].append(item)
    return parts


def _literal(items: list[_Item]) -> tuple[Node, ...]:
    """Markers that meant nothing at this level become their plain text."""
    return tuple(Text(item.text) if isinstance(item, _Marker) else item for item in items)


@cache
def _parser() -> Lark:
    return Lark(_GRAMMAR, parser="lalr", lexer="contextual", transformer=_Build())


def parse(text: str) -> tuple[Program, list[PromptWarning]]:
    """Parse normalised A1111 text; never raises for any input string."""
    balanced, warnings = escape_unbalanced(text, {"(": ")", "[": "]"})
    items: list[_Item] = _parser().parse(balanced) if balanced else []  # type: ignore[assignment]
    lone = _lone_backslashes(balanced)
    if lone:
        warnings.append(
            PromptWarning(
                code=WarningCode.BACKSLASH_REPLACED,
                message=f"replaced {lone} backslash(es) that escaped nothing by spaces",
            )
        )
    parts = _and_parts(items)
    has_schedule = _has_schedule(parts)
    return Program(tuple(parts), has_schedule), warnings


def _lone_backslashes(text: str) -> int:
    count = 0
    index = text.find("\\")
    while index != -1:
        if index + 1 >= len(text) or text[index + 1] not in _ESCAPABLE:
            count += 1
        index = text.find("\\", index + 2)
    return count


def _and_parts(items: list[_Item]) -> list[AndPart]:
    """Split at top-level ``AND``; with AND present, a trailing ``:weight`` weights its part."""
    pieces = _split(items, "and")
    if len(pieces) == 1:
        return [AndPart(_literal(pieces[0]))]
    parts = []
    for piece in pieces:
        body, weight = _trailing_weight(piece)
        parts.append(AndPart(_literal(body), weight))
    return parts


def _trailing_weight(items: list[_Item]) -> tuple[list[_Item], float]:
    """``a cat :1.2`` → (``a cat``, 1.2); items without a trailing ``:number`` → (items, 1.0)."""
    index = _skip_blank(items, len(items) - 1)
    number = items[index] if index >= 0 else None
    if not isinstance(number, Text) or not _NUMBER.match(number.text):
        return items, 1.0
    colon_index = _skip_blank(items, index - 1)
    colon = items[colon_index] if colon_index >= 0 else None
    if not isinstance(colon, _Marker) or colon.kind != "colon":
        return items, 1.0
    return items[:colon_index], float(number.text)


def _skip_blank(items: list[_Item], index: int) -> int:
    while index >= 0:
        item = items[index]
        if not isinstance(item, Text) or item.text.strip():
            break
        index -= 1
    return index


def _has_schedule(parts: list[AndPart]) -> bool:
    stack: list[Node] = [node for part in parts for node in part.nodes]
    while stack:
        node = stack.pop()
        if isinstance(node, Edit | Alternate):
            return True
        if isinstance(node, Group):
            stack.extend(node.children)
    return False
