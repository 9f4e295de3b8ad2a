"""What studio shows of the queue and the instance, as plain data for any front end."""

from __future__ import annotations

import math
from dataclasses import dataclass

from generation.queue import WorkerInfo
from generation.sizes import ASPECTS
from studio.quotas import Allowance
from studio.types import JobRecord


@dataclass(frozen=True)
class PendingJob:
    """One of a member's queued or running jobs: ``position`` 0 is next; None once running."""

    job_id: str
    prompt: str
    status: str
    position: int | None
    eta_seconds: float | None


@dataclass(frozen=True)
class QueueView:
    mine: list[PendingJob]
    waiting_here: int
    """Queued jobs of the member's guild."""
    waiting: int
    """Queued jobs in all."""
    workers: list[WorkerInfo]


@dataclass(frozen=True)
class Cancelled:
    job_id: str
    status: str
    """``cancelled`` (it was queued), ``running`` (it stops at its next step), or the final
    status it had already reached."""


@dataclass(frozen=True)
class InstanceView:
    models: list[str]
    """The models the member's guild allows."""
    default_model: str
    workers: list[WorkerInfo]
    waiting: int
    allowance: Allowance | None = None
    """The member's quota and lane here (None outside a guild)."""


@dataclass(frozen=True)
class Decided:
    """A moderator's decision on a log entry, for the front end to carry out and show.

    ``take_down``: the result message to delete (remove, reject), when known; ``post``: the
    approved result to post in its channel; ``problem``: why an approved result cannot be posted.
    """

    decision: str
    take_down: tuple[int, int] | None = None
    post: JobRecord | None = None
    problem: str | None = None


def closest_aspect(width: int, height: int) -> str:
    """The aspect preset nearest ``width``/``height`` (for "Use these settings")."""
    ratio = width / height

    def distance(aspect: str) -> float:
        across, down = (int(x) for x in aspect.split(":"))
        return abs(math.log(ratio / (across / down)))

    return min(ASPECTS, key=distance)
