"""Clean what users paste before anything parses it.

Control characters and invisible formatting characters are removed (they reach the tokenizer as
noise or hide text from moderators); emoji, accents and right-to-left scripts are kept as typed.
"""

from __future__ import annotations

import unicodedata

from prompting.errors import PromptError
from prompting.notices import PromptWarning, WarningCode

# Invisible characters that carry no meaning in a prompt: zero-width space, word joiner, BOM,
# soft hyphen, Mongolian vowel separator, bidirectional embeddings, overrides and isolates.
_ALWAYS_REMOVED = frozenset(
    "\u200b\u2060\ufeff\u00ad\u180e\u200e\u200f\u061c"
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Zero-width (non-)joiners build emoji sequences (👩‍🚀) and Persian or Indic words: they are kept
# between two non-ASCII characters and removed anywhere else.
_JOINERS = frozenset("\u200c\u200d")


def check_length(field: str, text: str, limit: int) -> None:
    """Refuse text past the configured cap before spending any work on it."""
    if len(text) > limit:
        raise PromptError(
            field,
            f"is {len(text)} characters long; the limit is {limit} characters. Shorten it.",
            code="too_long",
        )


def normalise(text: str) -> tuple[str, list[PromptWarning]]:
    """NFC, control and invisible characters removed, runs of whitespace made one space."""
    text = unicodedata.normalize("NFC", text)
    kept: list[str] = []
    removed = 0
    for index, char in enumerate(text):
        if char in ("\t", "\n", "\r", "\v", "\f"):
            kept.append(" ")
        elif _invisible(text, index):
            removed += 1
        else:
            kept.append(char)
    cleaned = " ".join("".join(kept).split())
    warnings = []
    if removed:
        warnings.append(
            PromptWarning(
                code=WarningCode.TEXT_NORMALISED,
                message=f"removed {removed} invisible or control character(s)",
                detail={"removed": removed},
            )
        )
    return cleaned, warnings


def _invisible(text: str, index: int) -> bool:
    char = text[index]
    if char in _ALWAYS_REMOVED or unicodedata.category(char) in ("Cc", "Cs"):
        return True
    return char in _JOINERS and not _between_non_ascii(text, index)


def _between_non_ascii(text: str, index: int) -> bool:
    before = text[index - 1] if index > 0 else " "
    after = text[index + 1] if index + 1 < len(text) else " "
    return not before.isascii() and not after.isascii() and not before.isspace()
