"""How each model family reads a prompt: what text can reach it, as plain facts (no torch).

FLUX.1 is guidance-distilled: there is no negative prompt to condition, and its T5 encoder reads
the whole prompt as one sequence, so A1111's ``BREAK``/``AND`` chunks mean nothing to it. SD 3.5
has negatives, but its CLIP encoders see only the first 77 tokens and T5 reads the rest as one
sequence, so chunks mean nothing there either. Where a syntax has no effect the user is told once
(a ``PromptWarning``) and the text is read as it would be without it; nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from prompting.negatives import ModelFamily


@dataclass(frozen=True)
class FamilyReading:
    label: str
    negatives: bool = True
    """The family conditions on a negative prompt."""
    chunks: bool = True
    """``BREAK``/``AND`` start new 77-token windows (CLIP encoders that read long prompts)."""
    sequence_tokens: int | None = None
    """Tokens a T5 encoder reads (None: CLIP windows of 75 only); counts are estimates."""


FAMILY_READING: dict[str, FamilyReading] = {
    "sd1": FamilyReading("SD 1.x"),
    "sd2": FamilyReading("SD 2.x"),
    "sdxl": FamilyReading("SDXL"),
    "flux": FamilyReading("FLUX.1", negatives=False, chunks=False, sequence_tokens=512),
    "sd3": FamilyReading("SD 3.5", chunks=False, sequence_tokens=256),
}


def reading(family: ModelFamily | str) -> FamilyReading:
    return FAMILY_READING.get(family, FAMILY_READING["sd1"])
