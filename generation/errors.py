"""The generation package's exception tree.

Every error a user can cause carries the field it is about, so the CLI and the bot can print one
line that names the field and what is allowed, without a traceback.
"""

from __future__ import annotations


class GenerationError(Exception):
    """Root of every error raised by ``generation``."""


class InvalidRequest(GenerationError, ValueError):
    """A request field is out of range or unknown; ``field`` names it for the user."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ModelNotFound(InvalidRequest):
    """The model name is neither in the catalog nor a loadable folder or checkpoint."""

    def __init__(self, message: str) -> None:
        super().__init__("model", message)


class ModelLoadError(GenerationError):
    """A model folder or checkpoint exists but cannot be loaded (corrupt, wrong family, …)."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"model: cannot load {source}: {reason}")
        self.field = "model"
        self.source = source
        self.reason = reason
