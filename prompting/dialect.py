"""Tell compel prompts from A1111 prompts.

Rule: text that uses compel-only syntax (``word+``, ``word--``, ``(words)1.3``, ``.and()``,
``.blend()``, ``.swap()``, ``.attend()``, ``withLora()``) and no A1111-only syntax
(``(words:1.3)``, square brackets, ``AND``, ``BREAK``) is compel and passes through unchanged.
Everything else is A1111 (plain text included) and is translated; text with both is translated
as A1111 and a warning says the compel parts were read literally. ``(words)`` alone means ×1.1
as in A1111, since both dialects accept it.
"""

from __future__ import annotations

import re
from typing import Literal

Dialect = Literal["a1111", "compel"]
Syntax = Literal["auto", "a1111", "compel"]

_COMPEL_ONLY = re.compile(
    r"""\.(?:and|add|blend|swap|attend|withLora)\(   # operators
      | useLora\(
      | \)(?:[+-]+|\d*\.?\d)                           # (words)1.3  (words)++
      | \w[+-]+(?=[\s,)]|$)                            # word+  word--
    """,
    re.VERBOSE,
)
_A1111_ONLY = re.compile(r":\s*[+-]?(?:\d+\.?\d*|\.\d+)\s*\)|(?<!\\)[\[\]]|\bAND\b|\bBREAK\b")


def has_compel_syntax(text: str) -> bool:
    return _COMPEL_ONLY.search(text) is not None


def has_a1111_syntax(text: str) -> bool:
    return _A1111_ONLY.search(text) is not None


_OPERATOR = re.compile(r"\)\.(and|add|blend)\(")


def compel_arity_problem(text: str) -> str | None:
    """Why compel would raise on ``(a, b).blend(w1, w2)``-style text, if it would.

    compel checks that a conjunction or blend has one weight per prompt and raises otherwise;
    every other malformed compel text it reads as literal words, which is safe.
    """
    match = _OPERATOR.search(text)
    if not text.startswith("(") or match is None:
        return None
    close = text.find(")", match.end())
    prompts = _top_level_items(text[1 : match.start()])
    weights = [
        item
        for item in _top_level_items(text[match.end() : close if close != -1 else len(text)])
        if "=" not in item and item.strip() != "no_normalize"
    ]
    if weights and len(weights) != len(prompts):
        return f"{len(prompts)} prompt(s) but {len(weights)} weight(s) in .{match.group(1)}()"
    return None


def _top_level_items(text: str) -> list[str]:
    items: list[str] = []
    current: list[str] = []
    depth, quoted, previous = 0, False, ""
    for char in text:
        if char == '"' and previous != "\\":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            items.append("".join(current))
            current = []
            previous = char
            continue
        current.append(char)
        previous = char
    items.append("".join(current))
    return [item for item in items if item.strip()]


def detect(text: str) -> Dialect:
    return "compel" if has_compel_syntax(text) and not has_a1111_syntax(text) else "a1111"
