"""Write chunks of weighted segments as compel syntax that compel parses back exactly.

compel's parser (pyparsing) reads some plain characters as syntax and, where it cannot parse, falls
back silently to literal text at weight 1. So the renderer follows compel's own rules:

- ``(``, ``)`` and ``"`` are escaped (compel turns ``\\(`` back into ``(`` before tokenizing);
- inside a weighted group only "words", ``,`` and ``.`` may appear: a ``=`` or a ``+``/``-``
  that compel would read as an operator is written just outside the group, at weight 1 (CLIP
  tokenizes punctuation on its own, so only the weight of that character changes);
- at the top level a word directly followed by ``+``/``-`` would become compel's ``word+``
  weighting, so a space goes between them (again the same CLIP tokens);
- ``BREAK``/``AND`` chunks become ``("chunk one", "chunk two").and(w1, w2)``: compel encodes
  each quoted prompt as its own 77-token window and concatenates them, which is what A1111's
  BREAK does and the closest compel has to AND.
"""

from __future__ import annotations

import re

from prompting.program import Chunk, Segment

_SYNTACTIC = frozenset('(),.="+-')
_ESCAPES = str.maketrans({"(": "\\(", ")": "\\)", '"': '\\"'})
_COMMA_GLUE = re.compile(r",(\S)")
_SPACE_BEFORE_COMMA = re.compile(r"\s+,")


def render(chunks: tuple[Chunk, ...]) -> str:
    """The compel string for one step's chunks ("" when there is no text at all)."""
    if not chunks:
        return ""
    bodies = [render_chunk(chunk.segments) for chunk in chunks]
    weights = [chunk.weight for chunk in chunks]
    if len(chunks) == 1 and weights[0] == 1.0:
        return bodies[0]
    quoted = ", ".join(f'"{body}"' for body in bodies)
    if all(weight == 1.0 for weight in weights):
        return f"({quoted}).and()"
    return f"({quoted}).and({', '.join(format_weight(w) for w in weights)})"


def render_chunk(segments: tuple[Segment, ...]) -> str:
    parts: list[str] = []
    for segment in segments:
        text = _SPACE_BEFORE_COMMA.sub(",", " ".join(segment.text.split()))
        text = _COMMA_GLUE.sub(r", \1", text)
        if is_unit(segment.weight):
            parts.append(_render_top(text))
        else:
            parts.extend(_render_group(text, segment.weight))
    return " ".join(part for part in parts if part)


def format_weight(weight: float) -> str:
    # "+ 0.0" turns -0.0 into 0.0: compel would read "(x)-0" as "(x)-" followed by "0".
    return f"{weight + 0.0:.4f}".rstrip("0").rstrip(".")


def is_unit(weight: float) -> bool:
    return format_weight(weight) == "1"


def _word_end(text: str, start: int) -> int:
    """Where compel's ``non_syntax_word`` starting at ``start`` stops (``start`` if it cannot)."""
    index = start
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in _SYNTACTIC:
            index += 2
        elif char in "+-":
            following = text[index + 1] if index + 1 < len(text) else " "
            if following.isspace() or following in _SYNTACTIC:
                break
            index += 1
        elif char.isspace() or char in _SYNTACTIC:
            break
        else:
            index += 1
    return index


def _render_top(text: str) -> str:
    words = []
    for word in text.translate(_ESCAPES).split(" "):
        words.extend(_split_before_operators(word))
    return " ".join(w for w in words if w)


def _split_before_operators(word: str) -> list[str]:
    """Split ``word`` wherever compel's word scanner would stop right before ``+`` or ``-``.

    There compel reads ``word+`` as weighting, so a space goes in (it changes no CLIP token).
    The scan restarts after ``,`` and ``.`` because inside ``"…"`` of ``.and()`` compel first
    tries its group grammar, where those end a word.
    """
    pieces: list[str] = []
    start = position = 0
    while position < len(word):
        end = _word_end(word, position)
        if position < end < len(word) and word[end] in "+-":
            pieces.append(word[start:end])
            start = position = end
            while position < len(word) and word[position] in "+-":
                position += 1
        else:
            position = max(end, position + 1)
    pieces.append(word[start:])
    return pieces


def _render_group(text: str, weight: float) -> list[str]:
    """``(text)weight``, with characters compel cannot hold in a group moved just outside."""
    escaped = text.translate(_ESCAPES)
    parts: list[str] = []
    inside: list[str] = []
    index = 0
    while index < len(escaped):
        char = escaped[index]
        if char.isspace() or char in ",.":
            inside.append(char)
            index += 1
        else:
            end = _word_end(escaped, index)
            if end > index:
                inside.append(escaped[index:end])
                index = end
            if (
                end == index
                and index < len(escaped)
                and not (escaped[index].isspace() or escaped[index] in ",.")
            ):
                # ``=``, or a ``+``/``-`` compel would read as an operator: outside the group.
                _close(inside, weight, parts)
                parts.append(escaped[index])
                index += 1
    _close(inside, weight, parts)
    return parts


def _close(inside: list[str], weight: float, parts: list[str]) -> None:
    body = " ".join("".join(inside).split())
    if body:
        parts.append(f"({body}){format_weight(weight)}")
    inside.clear()
