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


def detect(text: str) -> Dialect:
    return "compel" if has_compel_syntax(text) and not has_a1111_syntax(text) else "a1111"
