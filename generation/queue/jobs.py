"""The job: one user's request with where it came from, where it stands and what it produced.

Jobs, tickets, events and refusals are pydantic models so the store, Redis and the bot all read
the same shapes.
"""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from generation.errors import GenerationError
from generation.requests import GenerationRequest


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    BLOCKED = "blocked"

    @property
    def finished(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)


def new_job_id() -> str:
    return uuid.uuid4().hex


class Origin(BaseModel):
    """A slash command (``action`` is its name) or a button (``action`` + the earlier job)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["command", "button"] = "command"
    action: str = "imagine"
    parent_job_id: str | None = None


class Job(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=new_job_id)
    seq: int = 0
    """Submission order, assigned by the store; restart replays queued jobs in this order."""
    guild_id: str
    channel_id: str
    user_id: str
    priority: str = "default"
    origin: Origin = Field(default_factory=Origin)
    request: GenerationRequest
    status: JobStatus = JobStatus.QUEUED
    created_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    image_paths: list[Path] = Field(default_factory=list)
    seeds: list[int] = Field(default_factory=list)
    model_nsfw: list[bool | None] = Field(default_factory=list)
    """The model's own safety checker's verdict per image (None: the model has none)."""
    delivered: bool = False
    attempts: int = 0


class WorkerInfo(BaseModel):
    """A GPU worker as its heartbeat describes it (what ``/info`` shows)."""

    name: str
    models: list[str]
    device: str
    capacity: int
    busy: int
    """Batches it is running now: its queue depth."""
    time: float
    """When it last reported (Unix time)."""


class Ticket(BaseModel):
    """The answer to a submit: where the job stands in the fair order and roughly when it runs."""

    job_id: str
    position: int
    """Jobs ahead of this one (0: it is next)."""
    eta_seconds: float
    """Estimated seconds until its images are ready."""


class MemberJob(BaseModel):
    """One of a member's unfinished jobs, for ``/queue`` and ``/cancel``: running, or waiting
    with its ticket (when asked for; the autocomplete does not need places)."""

    job: Job
    ticket: Ticket | None = None

    @property
    def running(self) -> bool:
        return self.job.status is JobStatus.RUNNING


EventKind = Literal["queued", "started", "step", "preview", "done", "failed", "cancelled"]


class QueueEvent(BaseModel):
    job_id: str
    kind: EventKind
    position: int | None = None
    eta_seconds: float | None = None
    step: int | None = None
    total_steps: int | None = None
    preview: bytes | None = None
    error: str | None = None
    image_paths: list[Path] = Field(default_factory=list)
    seeds: list[int] = Field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.kind in ("done", "failed", "cancelled")


class Refusal(GenerationError):
    """A submit over a limit, refused at once.

    ``limit`` names the limit (``per_user_cap``, ``per_guild_cap``, ``global_cap``, ``cooldown``),
    ``field`` the setting behind it, ``retry_after`` the seconds until it likely frees up.
    """

    def __init__(self, limit: str, value: float, retry_after: float, message: str) -> None:
        super().__init__(message)
        self.limit = limit
        self.field = "cooldown_seconds" if limit == "cooldown" else limit
        self.value = value
        self.retry_after = max(0.0, retry_after)
        self.message = message


class JobNotFound(GenerationError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} does not exist (it may have expired)")
        self.field = "job_id"
        self.job_id = job_id


class NotAllowed(GenerationError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.field = "job_id"
