"""Vetting a guild's regular expression by its structure, before it is stored.

A backtracking engine takes exponential or high polynomial time when one piece of text can be
matched in many ways. That comes from three shapes, all visible in the parsed pattern, so they
are refused by analysis rather than by timing trial inputs (a trial input only finds the blow-up
it happens to contain: ``(?:z|zz)+y`` is instant on ``aaaa…``):

- a repeat inside a repeat, both unbounded: ``(a+)+``, ``(\\w+\\s?)*``;
- a repeated group whose alternatives or optional parts can match the same text:
  ``(?:z|zz)+``, ``(?:a?a)+``, ``(?:x*)+``;
- unbounded repeats in a row that can match the same characters, with nothing between them that
  one of them cannot match: ``z+z+z+y``, ``.*a.*b``, ``\\w+\\d+``. (``\\w+\\s+\\w+`` is fine: the
  spaces separate the words.)

The stdlib's own parser (``re._parser``) gives the tree; character sets are compared on a sample
alphabet (ASCII, accented and other-script letters), which is enough to see overlap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from re import _parser  # type: ignore[attr-defined]  # the stdlib's regex parser
from typing import Any

# Repeats with an upper bound above this count as unbounded: (a{1,1000}){1,1000} explodes too.
UNBOUNDED_ABOVE = 10
_REPEATS = (_parser.MAX_REPEAT, _parser.MIN_REPEAT, _parser.POSSESSIVE_REPEAT)
_ALPHABET = frozenset([chr(c) for c in range(32, 127)] + list("\n\téèüñçßøаоеиБЖλπ中日本ー한글"))
_DIGITS = frozenset(c for c in _ALPHABET if c.isdigit())
_SPACES = frozenset(c for c in _ALPHABET if c.isspace())
_WORD = frozenset(c for c in _ALPHABET if c.isalnum() or c == "_")
_CATEGORIES = {
    _parser.CATEGORY_DIGIT: _DIGITS,
    _parser.CATEGORY_NOT_DIGIT: _ALPHABET - _DIGITS,
    _parser.CATEGORY_SPACE: _SPACES,
    _parser.CATEGORY_NOT_SPACE: _ALPHABET - _SPACES,
    _parser.CATEGORY_WORD: _WORD,
    _parser.CATEGORY_NOT_WORD: _ALPHABET - _WORD,
}


class UnsafePattern(ValueError):
    """The pattern can take exponential or high polynomial time; the message says which part."""


@dataclass(frozen=True)
class _Shape:
    """What one node of the tree can do: the characters it may consume, the characters it may
    start with, and whether it may match empty text."""

    chars: frozenset[str]
    first: frozenset[str]
    nullable: bool


def _cased(code: int) -> frozenset[str]:
    char = chr(code)
    return frozenset({char, char.lower(), char.upper()}) & _ALPHABET | {char}


def _in_set(items: Iterable[tuple[Any, Any]]) -> frozenset[str]:
    negate = False
    chosen: set[str] = set()
    for op, arg in items:
        if op is _parser.NEGATE:
            negate = True
        elif op is _parser.LITERAL:
            chosen |= _cased(arg)
        elif op is _parser.RANGE:
            low, high = arg
            chosen |= {
                c for c in _ALPHABET if low <= ord(c) <= high or low <= ord(c.lower()) <= high
            }
        elif op is _parser.CATEGORY:
            chosen |= _CATEGORIES.get(arg, _ALPHABET)
        else:  # anything unusual: assume it may match anything
            chosen |= _ALPHABET
    return frozenset(_ALPHABET - chosen) if negate else frozenset(chosen)


def _unbounded(high: int) -> bool:
    return high == _parser.MAXREPEAT or high > UNBOUNDED_ABOVE


class _Vetter:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def refuse(self, why: str) -> UnsafePattern:
        return UnsafePattern(f"pattern {self.pattern!r} {why}")

    # -- shapes ---------------------------------------------------------------------------
    def shape_of_sequence(self, items: Any) -> _Shape:
        chars: frozenset[str] = frozenset()
        first: set[str] = set()
        nullable = True
        for item in items:
            shape = self.shape(item)
            chars |= shape.chars
            if nullable:
                first |= shape.first
            nullable = nullable and shape.nullable
        return _Shape(chars, frozenset(first), nullable)

    def shape(self, item: tuple[Any, Any]) -> _Shape:
        op, arg = item
        if op is _parser.LITERAL:
            chars = _cased(arg)
            return _Shape(chars, chars, False)
        if op is _parser.NOT_LITERAL:
            chars = frozenset(_ALPHABET - _cased(arg))
            return _Shape(chars, chars, False)
        if op is _parser.ANY:
            return _Shape(_ALPHABET, _ALPHABET, False)
        if op is _parser.IN:
            chars = _in_set(arg)
            return _Shape(chars, chars, False)
        if op in _REPEATS:
            low, _high, sub = arg
            inner = self.shape_of_sequence(sub)
            return _Shape(inner.chars, inner.first, low == 0 or inner.nullable)
        if op is _parser.SUBPATTERN:
            return self.shape_of_sequence(arg[-1])
        if op is _parser.ATOMIC_GROUP:
            return self.shape_of_sequence(arg)
        if op is _parser.BRANCH:
            shapes = [self.shape_of_sequence(branch) for branch in arg[1]]
            return _Shape(
                frozenset().union(*(s.chars for s in shapes)),
                frozenset().union(*(s.first for s in shapes)),
                any(s.nullable for s in shapes),
            )
        if op is _parser.GROUPREF_EXISTS:
            _group, yes, no = arg
            shapes = [self.shape_of_sequence(yes)] + ([self.shape_of_sequence(no)] if no else [])
            return _Shape(
                frozenset().union(*(s.chars for s in shapes)),
                frozenset().union(*(s.first for s in shapes)),
                True,
            )
        if op is _parser.GROUPREF:  # a back-reference may repeat anything the group took
            return _Shape(_ALPHABET, _ALPHABET, True)
        return _Shape(frozenset(), frozenset(), True)  # anchors and lookarounds: zero width

    # -- rules ----------------------------------------------------------------------------
    def check_sequence(self, items: Any, inside_unbounded: bool) -> None:
        items = list(items)
        for item in items:
            self.check_item(item, inside_unbounded)
        self.check_adjacent(self.flatten(items))

    def flatten(self, items: Iterable[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
        """Groups that are not repeated are part of the sequence they sit in."""
        out: list[tuple[Any, Any]] = []
        for op, arg in items:
            if op is _parser.SUBPATTERN:
                out += self.flatten(arg[-1])
            elif op is _parser.ATOMIC_GROUP:
                out += self.flatten(arg)
            else:
                out.append((op, arg))
        return out

    def check_item(self, item: tuple[Any, Any], inside_unbounded: bool) -> None:
        op, arg = item
        if op in _REPEATS:
            _low, high, sub = arg
            unbounded = _unbounded(high)
            if unbounded and inside_unbounded and op is not _parser.POSSESSIVE_REPEAT:
                raise self.refuse(
                    "nests a repeat inside a repeat (like (a+)+); that can take exponential "
                    "time. Rewrite it without the outer repeat."
                )
            self.check_sequence(sub, inside_unbounded or unbounded)
            if unbounded and op is not _parser.POSSESSIVE_REPEAT:
                self.check_unambiguous(sub)
        elif op is _parser.SUBPATTERN:
            self.check_sequence(arg[-1], inside_unbounded)
        elif op is _parser.ATOMIC_GROUP:
            self.check_sequence(arg, False)
        elif op is _parser.BRANCH:
            for branch in arg[1]:
                self.check_sequence(branch, inside_unbounded)
        elif op in (_parser.ASSERT, _parser.ASSERT_NOT):
            self.check_sequence(arg[1], inside_unbounded)
        elif op is _parser.GROUPREF_EXISTS:
            _group, yes, no = arg
            self.check_sequence(yes, inside_unbounded)
            if no:
                self.check_sequence(no, inside_unbounded)

    def check_unambiguous(self, body: Any) -> None:
        """A repeated body must split a text into iterations in one way only."""
        whole = self.shape_of_sequence(body)
        if whole.nullable:
            raise self.refuse(
                "repeats a part that can match empty text (like (a*)+); that can take "
                "exponential time. Make the repeated part match at least one character."
            )
        items = self.flatten(body)
        for index, (op, arg) in enumerate(items):
            if op is _parser.BRANCH:
                firsts = [self.shape_of_sequence(branch).first for branch in arg[1]]
                for i, a in enumerate(firsts):
                    if any(a & b for b in firsts[i + 1 :]):
                        raise self.refuse(
                            "repeats alternatives that can match the same text (like "
                            "(?:a|aa)+); that can take exponential time. Make each "
                            "alternative start differently."
                        )
            shape = self.shape((op, arg))
            if shape.nullable and shape.chars:  # optional: a?, (?:|a), x{0,3}
                after = self.shape_of_sequence(items[index + 1 :])
                following = after.first | (whole.first if after.nullable else frozenset())
                if shape.chars & following:
                    raise self.refuse(
                        "repeats a part whose optional piece can match what follows it "
                        "(like (?:a|aa)+ or (?:a?a)+); that can take exponential time."
                    )

    def check_adjacent(self, items: list[tuple[Any, Any]]) -> None:
        """Two unbounded repeats that can take the same characters, with nothing between them
        that the first cannot take, split a run of those characters in O(n²) ways or worse."""
        for i, (op, arg) in enumerate(items):
            if op not in _REPEATS or not _unbounded(arg[1]) or op is _parser.POSSESSIVE_REPEAT:
                continue
            taken = self.shape((op, arg)).chars
            for later in items[i + 1 :]:
                shape = self.shape(later)
                later_op, later_arg = later
                if (
                    later_op in _REPEATS
                    and _unbounded(later_arg[1])
                    and later_op is not _parser.POSSESSIVE_REPEAT
                    and shape.chars & taken
                ):
                    raise self.refuse(
                        "has repeats in a row that can match the same characters (like "
                        "z+z+y or .*a.*b); that can take very long on long prompts. "
                        "Separate them with something the first cannot match, or drop one."
                    )
                if not shape.nullable and not (shape.first <= taken):
                    break  # this item needs a character the first repeat cannot take


def vet_pattern(pattern: str) -> None:
    """Raise ``UnsafePattern`` (or ``re.error`` for bad syntax) for a pattern that may blow up."""
    tree = _parser.parse(pattern)
    _Vetter(pattern).check_sequence(tree, False)
