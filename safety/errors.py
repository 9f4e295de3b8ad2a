"""The safety package's exception tree."""

from __future__ import annotations


class SafetyError(Exception):
    """Root of every error raised by ``safety``."""


class InvalidSafetyInput(SafetyError, ValueError):
    """A term list, regex, image or prompt the user gave cannot be checked; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ClassifierUnavailable(SafetyError):
    """The image classifier cannot be loaded; images are withheld rather than posted unchecked."""
