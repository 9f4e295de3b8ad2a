"""The prompting package's exception tree."""

from __future__ import annotations


class PromptError(ValueError):
    """A prompt or preset the user gave cannot be used; ``field`` names it for the user."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
