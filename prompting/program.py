"""A parsed prompt as data: weighted text, chunk breaks, edits and alternations over the steps.

The A1111 parser builds a ``Program``; ``Program.at_step`` flattens it, for one denoising step,
into chunks of weighted segments; the renderer turns those into compel text. Flattening walks the
tree with an explicit stack, so a prompt nested a thousand brackets deep costs no recursion.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

MIN_WEIGHT = 0.0
MAX_WEIGHT = 2.0
# Products of nested weights are kept finite (a huge value times zero would otherwise be NaN);
# anything this large is clamped to MAX_WEIGHT in the end anyway.
_WEIGHT_CEILING = 1e300


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Break:
    """A1111's ``BREAK``: the text after it starts a new 75-token chunk."""


@dataclass(frozen=True, slots=True)
class Group:
    """Children whose weights are multiplied by ``factor``: (x) 1.1, [x] 1/1.1, (x:w) w."""

    factor: float
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Edit:
    """``[before:after:when]``: ``before`` until step ``when`` (or fraction of the steps if < 1)."""

    before: tuple[Node, ...]
    after: tuple[Node, ...]
    when: float

    def switch_step(self, steps: int) -> int:
        """The 0-based step from which ``after`` applies (A1111: ``int(when * steps)`` if < 1)."""
        value = self.when * steps if self.when < 1 else self.when
        # ``[a:b:999…9]`` parses to infinity, which int() refuses: past the last step is "never".
        return steps if value >= steps else int(value)


@dataclass(frozen=True, slots=True)
class Alternate:
    """``[a|b|c]``: step 0 uses a, step 1 b, step 2 c, step 3 a again, …"""

    options: tuple[tuple[Node, ...], ...]


Node = Text | Break | Group | Edit | Alternate


@dataclass(frozen=True, slots=True)
class Segment:
    text: str
    weight: float


@dataclass(frozen=True, slots=True)
class Chunk:
    """Text encoded on its own (a ``BREAK`` or ``AND`` part); ``weight`` is the AND weight."""

    segments: tuple[Segment, ...]
    weight: float = 1.0

    @property
    def plain(self) -> str:
        return " ".join(" ".join(s.text for s in self.segments).split())


@dataclass(frozen=True, slots=True)
class Clamped:
    text: str
    weight: float


@dataclass(frozen=True, slots=True)
class AndPart:
    nodes: tuple[Node, ...]
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Flat:
    """One step's view of a program: its chunks and the weights that had to be clamped."""

    chunks: tuple[Chunk, ...]
    clamped: tuple[Clamped, ...] = ()


@dataclass(frozen=True, slots=True)
class Program:
    parts: tuple[AndPart, ...]
    has_schedule: bool = field(default=False)

    def at_step(self, step: int, steps: int) -> Flat:
        chunks: list[Chunk] = []
        clamped: list[Clamped] = []
        for index, part in enumerate(self.parts):
            weight = clamp(part.weight)
            if weight != part.weight:
                clamped.append(Clamped(f"AND part {index + 1}", part.weight))
            for segments in _flatten(part.nodes, step, steps):
                merged = _merge(segments, clamped)
                if merged:
                    chunks.append(Chunk(tuple(merged), weight))
        return Flat(tuple(chunks), tuple(clamped))

    def steps_signature(self, steps: int) -> Iterator[tuple[int, Flat]]:
        """Each step's flat view, for the steps where the view changes (step 0 first)."""
        previous: Flat | None = None
        for step in range(max(1, steps)):
            flat = self.at_step(step, steps)
            if previous is None or flat.chunks != previous.chunks:
                yield step, flat
                previous = flat


def clamp(weight: float) -> float:
    return min(MAX_WEIGHT, max(MIN_WEIGHT, weight))


def multiply(weight: float, factor: float) -> float:
    product = weight * factor
    if math.isnan(product):
        return 0.0
    return max(-_WEIGHT_CEILING, min(_WEIGHT_CEILING, product))


def _flatten(nodes: tuple[Node, ...], step: int, steps: int) -> list[list[Segment]]:
    chunks: list[list[Segment]] = [[]]
    stack: list[tuple[Iterator[Node], float]] = [(iter(nodes), 1.0)]
    while stack:
        iterator, weight = stack[-1]
        node = next(iterator, None)
        if node is None:
            stack.pop()
            if stack:  # a bracket ends a word, as it began one: "(a)(b)" is two words
                chunks[-1].append(Segment(" ", stack[-1][1]))
        elif isinstance(node, Text):
            chunks[-1].append(Segment(node.text, weight))
        elif isinstance(node, Break):
            chunks.append([])
        elif isinstance(node, Group):
            chunks[-1].append(Segment(" ", weight))
            stack.append((iter(node.children), multiply(weight, node.factor)))
        elif isinstance(node, Edit):
            branch = node.after if step >= node.switch_step(steps) else node.before
            chunks[-1].append(Segment(" ", weight))
            stack.append((iter(branch), weight))
        else:
            chunks[-1].append(Segment(" ", weight))
            stack.append((iter(node.options[step % len(node.options)]), weight))
    return chunks


def _merge(segments: list[Segment], clamped: list[Clamped]) -> list[Segment]:
    """Clamp weights into MIN..MAX and join neighbours of equal weight (as A1111 does)."""
    merged: list[Segment] = []
    for segment in segments:
        weight = segment.weight
        if not MIN_WEIGHT <= weight <= MAX_WEIGHT:
            weight = clamp(weight)
            if segment.text.strip():
                clamped.append(Clamped(segment.text.strip(), segment.weight))
        if merged and merged[-1].weight == weight:
            merged[-1] = Segment(merged[-1].text + segment.text, weight)
        else:
            merged.append(Segment(segment.text, weight))
    return [s for s in merged if s.text.strip()]
