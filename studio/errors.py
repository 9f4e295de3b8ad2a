"""Every error a front end may have to explain, in one place.

Studio's own errors are defined here; the lower rooms' user errors are re-exported, so a front end
(``bot/``, the CLI) maps them to messages without importing those rooms. Each carries the field
the user got wrong (``field``) and what is allowed (``message``).
"""

from __future__ import annotations

from generation.errors import GenerationError, InvalidRequest, ModelLoadError
from generation.queue import JobNotFound, NotAllowed, Refusal, StorageUnwritable
from prompting.errors import PromptError
from safety import ModerationEntry
from safety.errors import InvalidSafetyInput


class StudioError(Exception):
    """Root of studio's own errors."""


class PromptBlocked(StudioError):
    """The safety policy does not allow this prompt in this channel; ``reason`` says why and
    ``entry`` is what the moderation record holds of it (for the moderators' log)."""

    def __init__(self, reason: str, entry: ModerationEntry | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.entry = entry


class InputBlocked(PromptBlocked):
    """An input picture the channel's policy does not allow (the classifier flagged it, or it
    could not be checked); recorded for the moderators like a refused prompt, never stored."""


class Refused(StudioError):
    """A request the guild's rules refuse (a ban, a missing permission); the message is for the
    user."""


class ModeratorsOnly(Refused):
    """A moderators' command or button used by a member who is not a moderator."""


class ManagersOnly(Refused):
    """A server setting changed by a member without Manage Server."""


class InvalidSetting(StudioError, ValueError):
    """A setting value that cannot be stored; ``field`` names the setting, ``message`` the range."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SettingsStoreError(StudioError, RuntimeError):
    """Studio's tables cannot be opened (a newer schema, a broken file)."""


FIELD_ERRORS: tuple[type[Exception], ...] = (
    InvalidRequest,
    PromptError,
    InvalidSafetyInput,
    ModelLoadError,
    InvalidSetting,
)
"""Errors that name the option a user got wrong (``field``) and what is allowed (``message``)."""

__all__ = [
    "FIELD_ERRORS",
    "GenerationError",
    "InputBlocked",
    "InvalidRequest",
    "InvalidSafetyInput",
    "InvalidSetting",
    "JobNotFound",
    "ManagersOnly",
    "ModelLoadError",
    "ModeratorsOnly",
    "NotAllowed",
    "PromptBlocked",
    "PromptError",
    "Refusal",
    "Refused",
    "SettingsStoreError",
    "StorageUnwritable",
    "StudioError",
]
