"""The prompting package's exception tree."""

from __future__ import annotations


class PromptError(ValueError):
    """A prompt or preset the user gave cannot be used; ``field`` names it for the user.

    ``code`` is a stable machine-readable reason (``too_long``, ``unknown_preset``, ``empty``, …)
    so ``lint`` can report the same problem as a warning instead of raising.
    """

    def __init__(self, field: str, message: str, code: str = "invalid") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.code = code


class PresetFileError(PromptError):
    """A presets file (shipped or the operator's) is missing, not TOML, or has a bad entry."""

    def __init__(self, message: str) -> None:
        super().__init__("presets_file", message, code="bad_presets_file")
