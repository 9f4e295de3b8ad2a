"""Prompt syntax taken out, so that words split by it are read whole.

``nu BREAK de``, ``(nak:1.1)(ed:1.1)``, ``(nak)1.1(ed)1.1`` and ``[nu:de:5]`` reach the text
encoder as pieces that read as one word; a filter that sees the pieces sees nothing. This removes
what the A1111 and compel dialects add around words (weights, BREAK and AND, brackets, ``+``/``-``)
without a space, so the pieces touch again. It is a reading for the filter only, never what is
generated.
"""

from __future__ import annotations

import re

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_A1111_WEIGHT = re.compile(rf":\s*{_NUMBER}\s*(?=[)\]])")  # (word:1.2), [a:b:10]
_COMPEL_WEIGHT = re.compile(rf"(?<=[)\"])\s*{_NUMBER}")  # (word)1.2, ("a b")0.8
_COMPEL_NUDGE = re.compile(r"(?<=\w)[+-]+(?=[\s,()\[\]]|$)")  # word++ word--
_KEYWORD = re.compile(r"\s*\b(?:BREAK|AND)\b\s*")
_BRACKETS = re.compile(r"[()\[\]{}\"|]")


def without_syntax(text: str) -> str | None:
    """The text with prompt syntax removed so split words join, or ``None`` if it has none."""
    out = _A1111_WEIGHT.sub("", text)
    out = _COMPEL_WEIGHT.sub("", out)
    out = _COMPEL_NUDGE.sub("", out)
    out = _KEYWORD.sub("", out)
    out = _BRACKETS.sub("", out)
    return out if out != text else None
