"""One entry point from prompt text (either dialect) to compel text per step."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from prompting import a1111
from prompting.dialect import (
    Dialect,
    Syntax,
    compel_arity_problem,
    detect,
    has_a1111_syntax,
    has_compel_syntax,
)
from prompting.notices import PromptWarning, WarningCode
from prompting.program import AndPart, Chunk, Flat, Program, Segment, Text
from prompting.render import format_weight, render

DEFAULT_STEPS = 20


@dataclass(frozen=True)
class Translation:
    """A prompt understood: its dialect, its program (A1111) and what the translation noticed."""

    source: str
    dialect: Dialect
    program: Program
    warnings: list[PromptWarning] = field(default_factory=list)
    one_chunk: bool = False
    """Render every step as one chunk: for families whose encoders read no BREAK/AND windows."""
    _views: dict[int, list[tuple[int, Flat]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def has_schedule(self) -> bool:
        return self.program.has_schedule

    def flat(self, step: int = 0, steps: int = DEFAULT_STEPS) -> Flat:
        return self.program.at_step(step, steps)

    def compel(self, step: int = 0, steps: int = DEFAULT_STEPS) -> str:
        """The compel string the model gets at ``step`` of ``steps``."""
        if self.dialect == "compel":
            return self.source
        return render(self._chunks(self.flat(step, steps)))

    def _chunks(self, flat: Flat) -> tuple[Chunk, ...]:
        if not self.one_chunk or len(flat.chunks) < 2:
            return flat.chunks
        return (Chunk(tuple(s for chunk in flat.chunks for s in chunk.segments)),)

    @property
    def has_chunks(self) -> bool:
        """More than one BREAK/AND chunk at some step."""
        if self.dialect == "compel":
            return False
        return any(len(flat.chunks) > 1 for _, flat in self.views(DEFAULT_STEPS))

    def as_one_chunk(self) -> Translation:
        """This prompt read without its BREAK/AND windows (the text is kept, in order)."""
        return replace(self, one_chunk=True, _views={})

    def views(self, steps: int) -> list[tuple[int, Flat]]:
        """Step 0's flat view and each later one that differs (computed once per step count)."""
        if steps not in self._views:
            if self.has_schedule:
                self._views[steps] = list(self.program.steps_signature(steps))
            else:
                self._views[steps] = [(0, self.flat(0, steps))]
        return self._views[steps]

    def schedule(self, steps: int) -> list[tuple[int, str]]:
        """``(from_step, compel)`` for step 0 and every step where the prompt changes."""
        if self.dialect == "compel":
            return [(0, self.source)]
        entries: list[tuple[int, str]] = []
        for step, flat in self.views(steps):
            text = render(self._chunks(flat))
            if not entries or entries[-1][1] != text:
                entries.append((step, text))
        return entries

    def clamp_warnings(self, steps: int) -> list[PromptWarning]:
        if self.dialect == "compel":
            return []
        seen: dict[str, float] = {}
        for _, flat in self.views(steps):
            for clamped in flat.clamped:
                seen.setdefault(clamped.text, clamped.weight)
        if not seen:
            return []
        shown = ", ".join(f"{text!r} {weight:g}" for text, weight in list(seen.items())[:5])
        return [
            PromptWarning(
                code=WarningCode.WEIGHT_CLAMPED,
                message=f"weights outside 0..2 were clamped: {shown}",
                detail={
                    "clamped": [{"text": t, "weight": format_weight(w)} for t, w in seen.items()]
                },
            )
        ]


def translate(text: str, syntax: Syntax = "auto") -> Translation:
    """Parse normalised ``text``; never raises. ``syntax`` forces a dialect instead of detecting."""
    dialect: Dialect = detect(text) if syntax == "auto" else syntax
    warnings: list[PromptWarning] = []
    problem = compel_arity_problem(text) if dialect == "compel" else None
    if problem:
        dialect = "a1111"
        warnings.append(
            PromptWarning(
                code=WarningCode.INVALID_COMPEL,
                message=f"compel cannot use this prompt ({problem}); it was read as plain text",
            )
        )
    if dialect == "compel":
        source = text.replace("\\{", "{").replace("\\}", "}").replace("\\|", "|")
        plain = Program((AndPart((Text(source),)),))
        return Translation(source, "compel", plain, warnings)
    if syntax == "auto" and has_compel_syntax(text) and has_a1111_syntax(text):
        warnings.append(
            PromptWarning(
                code=WarningCode.MIXED_SYNTAX,
                message="the prompt mixes A1111 and compel syntax; it was read as A1111, "
                "so compel operators such as word+ or (words)1.3 were kept as plain text",
            )
        )
    program, parse_warnings = a1111.parse(text)
    return Translation(text, "a1111", program, warnings + parse_warnings)


def to_compel(text: str, syntax: Syntax = "auto") -> str:
    """Shortcut: the compel string at step 0 for ``text``."""
    return translate(text, syntax).compel()


__all__ = ["Chunk", "Segment", "Translation", "to_compel", "translate"]
