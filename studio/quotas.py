"""Quotas and lanes: how much each member may paint per hour and per day, and in which lane.

Quotas count images, or GPU-seconds, per member and guild in fixed windows: the clock hour, and
the day that starts at the guild's ``quota_reset_hour`` (UTC). A job is charged when it is
queued (so a member cannot queue past their quota), settled when it finishes, and refunded when
it fails or is cancelled. GPU-seconds are the queue's measured cost of a job (the seconds per
image its workers took for that model, size and steps, times the images: the ETA's own
figure), so jobs sharing a batch are not each charged the whole batch.

Lanes, like Midjourney's fast and relax: members with one of the guild's ``fast_roles`` paint in
the fast lane, everyone else in the relax lane; both lanes run, each member in turn inside a lane
(the queue's fair round-robin), and a fast member gets the fast lane's weight of turns for every
turn of a relax member. A member past their quota is refused (saying when it frees up), or, when
the guild chose ``quota_when_spent = relax``, paints on in the relax lane.

The lanes are the queue's priority classes (``queue.priority_weights``): relax is ``default``,
fast is ``booster``, moderators keep ``moderator``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from generation.queue import Job, JobStatus, Refusal
from generation.requests import GenerationRequest
from studio.guild_settings import GuildSettings
from studio.tables import StudioTables
from studio.types import Requester

Lane = Literal["fast", "relax"]
LANE_PRIORITY: dict[Lane, str] = {"fast": "booster", "relax": "default"}
"""The queue's priority class of each lane (moderators keep their own, ``moderator``)."""

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE studio_usage (
        job_id TEXT PRIMARY KEY,
        guild_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        at REAL NOT NULL,
        images INTEGER NOT NULL,
        seconds REAL NOT NULL,
        lane TEXT NOT NULL,
        settled INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX studio_usage_member ON studio_usage (guild_id, user_id, at);
    """,
}


class QuotaSpent(Refusal):
    """A member past their quota, refused: ``retry_after`` says when it frees up."""

    def __init__(self, window: QuotaWindow, needed: float, unit: str, now: float) -> None:
        wait = max(0.0, window.ends - now)
        every = _ADJECTIVE[window.name]
        if needed > window.limit:
            message = (
                f"this job needs {_amount(needed, unit)}, more than the whole {every} "
                f"quota here ({_amount(window.limit, unit)}): ask for fewer or smaller images"
            )
        else:
            message = (
                f"your {every} quota here is spent: {window.used:.0f} of "
                f"{_amount(window.limit, unit)} used, this job needs {_amount(needed, unit)} "
                f"({_amount(window.left, unit)} left); it frees up at {_clock(window.ends)} "
                f"(in {duration(wait)})"
            )
        setting = f"quota_{every}"
        super().__init__(setting, window.limit, wait, message)
        self.field = setting
        self.window = window


_ADJECTIVE = {"hour": "hourly", "day": "daily"}


def _amount(value: float, unit: str) -> str:
    if unit == "images":
        return f"{value:.0f} image{'s' if round(value) != 1 else ''}"
    return f"{value:.0f} GPU-seconds"


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M UTC")


def duration(seconds: float) -> str:
    """``2 h 05 min``, ``14 min``, ``40 s``: how long until something frees up."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


@dataclass(frozen=True)
class QuotaWindow:
    """One window of a member's quota: ``used`` of ``limit`` between ``starts`` and ``ends``
    (Unix times; the quota frees up at ``ends``)."""

    name: Literal["hour", "day"]
    limit: float
    used: float
    starts: float
    ends: float

    @property
    def left(self) -> float:
        return max(0.0, self.limit - self.used)


@dataclass(frozen=True)
class Allowance:
    """What a member may still paint here, and in which lane (``/info``)."""

    unit: str
    windows: tuple[QuotaWindow, ...]
    exempt: bool
    lane: Lane
    fallback_to_relax: bool

    @property
    def limited(self) -> bool:
        return bool(self.windows) and not self.exempt


def windows_at(now: float, reset_hour: int) -> dict[str, tuple[float, float]]:
    """The hour and the day around ``now``: ``name → (starts, ends)``."""
    moment = datetime.fromtimestamp(now, UTC)
    hour = moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=reset_hour, minute=0, second=0, microsecond=0)
    if day > moment:
        day -= timedelta(days=1)
    return {
        "hour": (hour.timestamp(), (hour + timedelta(hours=1)).timestamp()),
        "day": (day.timestamp(), (day + timedelta(days=1)).timestamp()),
    }


@dataclass(frozen=True)
class Charge:
    """One job's charge: ``images`` and ``seconds`` as queued, or as settled when it ended."""

    job_id: str
    at: float
    images: int
    seconds: float
    settled: bool


class UsageLedger(StudioTables):
    """The ``studio_usage`` table: one row per queued job. Thread-safe."""

    META = "studio_usage_meta"
    MIGRATIONS = _MIGRATIONS
    OWNER = "the quota ledger"

    def charge(
        self,
        job_id: str,
        *,
        guild_id: int,
        user_id: int,
        at: float,
        images: int,
        seconds: float,
        lane: Lane,
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO studio_usage VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                (job_id, guild_id, user_id, at, images, seconds, lane),
            )

    def settle(self, job_id: str, images: int, seconds: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE studio_usage SET images = ?, seconds = ?, settled = 1 WHERE job_id = ?",
                (images, seconds, job_id),
            )

    def rows(self, guild_id: int, user_id: int, since: float) -> list[Charge]:
        """The member's charges since ``since``."""
        with self._lock:
            found = self._db.execute(
                "SELECT job_id, at, images, seconds, settled FROM studio_usage "
                "WHERE guild_id = ? AND user_id = ? AND at >= ?",
                (guild_id, user_id, since),
            ).fetchall()
        return [
            Charge(job, at, n, seconds, bool(settled)) for job, at, n, seconds, settled in found
        ]

    def purge(self, before: float) -> int:
        """Forget rows older than any window (called now and then)."""
        with self._lock:
            return self._db.execute("DELETE FROM studio_usage WHERE at < ?", (before,)).rowcount


class Quotas:
    """Per-member quotas and lanes over the ledger.

    ``cost``: the GPU-seconds a request costs (the queue's estimator); ``job``: a stored job or
    None (to settle charges); ``clock``: Unix time.
    """

    def __init__(
        self,
        ledger: UsageLedger,
        cost: Callable[[GenerationRequest], float],
        job: Callable[[str], Job | None],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ledger = ledger
        self._cost = cost
        self._job = job
        self._clock = clock

    def amount(self, request: GenerationRequest, unit: str) -> float:
        """What a request counts against a quota in ``unit``."""
        return float(request.count) if unit == "images" else self._cost(request)

    def allowance(self, who: Requester, settings: GuildSettings, moderator: bool) -> Allowance:
        """The member's windows (used, limit, reset) and lane before any new job."""
        lane: Lane = "fast" if moderator or _has(who, settings.fast_roles) else "relax"
        limits: dict[Literal["hour", "day"], int | None] = {
            "hour": settings.quota_hourly,
            "day": settings.quota_daily,
        }
        now = self._clock()
        spans = windows_at(now, settings.quota_reset_hour)
        windows: list[QuotaWindow] = []
        if any(limit is not None for limit in limits.values()):
            since = min(starts for starts, _ in spans.values())
            charges = self._settled(who, since)
            for name, limit in limits.items():
                if limit is None:
                    continue
                starts, ends = spans[name]
                used = sum(
                    c.images if settings.quota_unit == "images" else c.seconds
                    for c in charges
                    if c.at >= starts
                )
                windows.append(QuotaWindow(name, float(limit), used, starts, ends))
        return Allowance(
            unit=settings.quota_unit,
            windows=tuple(windows),
            exempt=_has(who, settings.quota_exempt_roles),
            lane=lane,
            fallback_to_relax=settings.quota_when_spent == "relax",
        )

    def _settled(self, who: Requester, since: float) -> list[Charge]:
        """The member's charges since ``since``, each finished job settled first."""
        charges = []
        for charge in self.ledger.rows(who.guild_id, who.user_id, since):
            if not charge.settled:
                job = self._job(charge.job_id)
                if job is None or job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
                    charge = Charge(charge.job_id, charge.at, 0, 0.0, True)
                elif job.status.finished:
                    seconds = self._cost(job.request)
                    charge = Charge(charge.job_id, charge.at, charge.images, seconds, True)
                if charge.settled:
                    self.ledger.settle(charge.job_id, charge.images, charge.seconds)
            charges.append(charge)
        return charges

    def admit(
        self, who: Requester, settings: GuildSettings, request: GenerationRequest, moderator: bool
    ) -> Lane:
        """The lane a new job runs in, or ``QuotaSpent`` (saying when it frees up)."""
        allowance = self.allowance(who, settings, moderator)
        if not allowance.limited:
            return allowance.lane
        needed = self.amount(request, allowance.unit)
        over = [w for w in allowance.windows if w.used + needed > w.limit]
        if not over:
            return allowance.lane
        if allowance.fallback_to_relax:
            return "relax"
        latest = max(over, key=lambda w: w.ends)
        raise QuotaSpent(latest, needed, allowance.unit, self._clock())

    def charge(self, job_id: str, who: Requester, request: GenerationRequest, lane: Lane) -> None:
        now = self._clock()
        self.ledger.purge(now - 2 * 86400)  # no window reaches further back
        self.ledger.charge(
            job_id,
            guild_id=who.guild_id,
            user_id=who.user_id,
            at=now,
            images=request.count,
            seconds=self._cost(request),
            lane=lane,
        )


def _has(who: Requester, roles: tuple[int, ...]) -> bool:
    return bool(roles) and any(role in roles for role in who.role_ids)
