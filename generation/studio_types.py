"""The studio's surface: one small protocol and its plain data, so callers hold no rules.

A front end (the Discord bot, a CLI, a test) calls these methods with what the user typed or
clicked and who they are; the studio decides models, sizes, seeds, derived requests and safety.
``generation.studio.Studio`` implements it on the queue. Nothing here knows Discord: ids are
plain integers and texts are for any front end to show.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from generation.queue import Limits
from generation.requests import GenerationRequest
from safety import GuildSafety, ModerationEntry


class PromptBlocked(Exception):
    """The safety policy does not allow this prompt in this channel; ``reason`` says why and
    ``entry`` is what the moderation record holds of it (for the moderators' log)."""

    def __init__(self, reason: str, entry: ModerationEntry | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.entry = entry


Derivation = Literal["reroll", "vary_subtle", "vary_strong", "upscale"]
ChoiceField = Literal["style", "aspect", "scheduler", "model"]


class GuildRules(BaseModel):
    """A community's defaults for the options a user leaves out, and the models it allows, as
    plain values (the front end stores them; None or empty: the studio's own)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = None
    steps: int | None = None
    cfg: float | None = None
    aspect: str | None = None
    negative: str | None = None
    allowed_models: tuple[str, ...] = ()
    """Empty: every model of the catalog."""

    def allows(self, model: str) -> bool:
        return not self.allowed_models or model in self.allowed_models


@dataclass(frozen=True)
class Requester:
    """Who asks, and where: the service applies per-user, per-guild and per-channel rules."""

    user_id: int
    guild_id: int
    channel_id: int
    channel_nsfw: bool = False
    is_moderator: bool = False
    limits: Limits | None = None  # the guild's limits (None: the configured ones)
    safety: GuildSafety | None = None  # the guild's terms and NSFW choices in this channel
    rules: GuildRules | None = None  # the guild's defaults and allowed models


class ImagineOptions(BaseModel):
    """The options of ``/imagine`` as the user gave them (None: the guild's default)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    negative: str | None = None
    style: str | None = None
    medium: str | None = None
    lighting: str | None = None
    composition: str | None = None
    aspect: str | None = None
    count: int | None = None
    steps: int | None = None
    cfg: float | None = None
    seed: int | None = None
    scheduler: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class Submitted:
    """A job accepted into the queue: its id, its place, and prompt warnings to show briefly."""

    job_id: str
    position: int
    eta_seconds: float
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Orphan:
    job_id: str
    user_id: int
    channel_id: int


@dataclass(frozen=True)
class Reported:
    """``accepted``: False when this user had reported it before; ``hidden``: this report was
    the one that hides the result (the bot takes it down)."""

    accepted: bool
    hidden: bool
    entries: tuple[ModerationEntry, ...] = ()
    """What the record wrote of it (the report, and the hiding): for the moderators' log."""


@dataclass(frozen=True)
class JobImage:
    png: bytes
    seed: int
    spoiler: bool = False
    """Flagged and blurred by the safety policy: posted behind a spoiler."""


@dataclass(frozen=True)
class JobRecord:
    """A stored job, enough to render it and to act on its buttons after a restart."""

    job_id: str
    user_id: int
    guild_id: int
    channel_id: int
    action: str
    request: GenerationRequest
    status: str
    images: list[JobImage] = field(default_factory=list)
    seconds: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class Queued:
    position: int
    eta_seconds: float


@dataclass(frozen=True)
class Progress:
    step: int
    total_steps: int
    preview: bytes | None = None


@dataclass(frozen=True)
class Finished:
    job: JobRecord
    logged: tuple[ModerationEntry, ...] = ()
    """Flagged or uncheckable images the record just wrote of (posted blurred): for the log."""


@dataclass(frozen=True)
class Failed:
    message: str


@dataclass(frozen=True)
class Blocked:
    """The safety policy withheld the images; ``message`` says so without showing them."""

    message: str
    logged: tuple[ModerationEntry, ...] = ()
    """Flagged or uncheckable images the record just wrote of: for the moderators' log."""


JobEvent = Queued | Progress | Finished | Failed | Blocked


class ImagineService(Protocol):
    async def submit(self, options: ImagineOptions, who: Requester) -> Submitted:
        """Queue a job, or raise the package's error (bad option, limit reached, banned, …)."""
        ...

    def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        """The job's events from its current state on; ends after Finished, Failed or Blocked."""
        ...

    async def job(self, job_id: str) -> JobRecord:
        """A stored job (raises when it does not exist, e.g. expired)."""
        ...

    async def derive(
        self, job_id: str, action: Derivation, index: int | None, who: Requester
    ) -> Submitted:
        """A new job from a stored one: reroll, subtle/strong variation or upscale of image
        ``index`` (0-based; None for the whole job)."""
        ...

    async def remix(self, job_id: str, prompt: str, who: Requester) -> Submitted:
        """The stored job's settings with an edited prompt."""
        ...

    async def delete(self, job_id: str, who: Requester) -> None:
        """Allow the deletion of a result (its requester or a moderator) or raise NotAllowed."""
        ...

    async def report(self, job_id: str, who: Requester, reason: str) -> Reported:
        """Record a user's report of a result for the moderators."""
        ...

    async def delivered(
        self,
        job_id: str,
        problem: str | None = None,
        *,
        channel_id: int | None = None,
        message_id: int | None = None,
    ) -> bool:
        """Record the result's delivery (or why it failed) and, when given, the message that
        shows the result (so moderators can remove it later); True the first time only."""
        ...

    async def result_message(self, job_id: str) -> tuple[int, int] | None:
        """Where the result was posted, ``(channel id, message id)``; None when unknown."""
        ...

    async def orphans(self) -> list[Orphan]:
        """Jobs no interaction follows any more (queued or finished before a restart)."""
        ...

    async def choices(self, field: ChoiceField, who: Requester) -> list[str]:
        """Allowed values for an option (models: the ones the requester's guild allows)."""
        ...

    def prompt_of(self, job: JobRecord) -> str:
        """The prompt a user would edit to remix the job."""
        ...
