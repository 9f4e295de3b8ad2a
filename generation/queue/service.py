"""The queue service the bot calls: submit, cancel, look up, listen.

It owns the fair order and the limits and hands batches to a backend (the in-process runner, or
Redis workers) only when the backend has an idle slot, so fairness holds however many GPUs there
are. Every transition is committed to the store before an event goes out.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict

from generation.config import CooldownSeconds, PerGuildCap, PerUserCap, QueueConfig
from generation.errors import InvalidRequest
from generation.queue.eta import ThroughputEstimator
from generation.queue.fairness import FairScheduler
from generation.queue.jobs import (
    EventKind,
    Job,
    JobNotFound,
    JobStatus,
    NotAllowed,
    Origin,
    QueueEvent,
    Refusal,
    Ticket,
    WorkerInfo,
)
from generation.queue.store import JobStore
from generation.requests import GenerationRequest, GenerationResult, StepProgress

if TYPE_CHECKING:
    from generation.queue.metrics import QueueMetrics

log = logging.getLogger(__name__)


class BackendSink(Protocol):
    """What a backend reports to the service; every call happens on the service's loop."""

    def on_progress(self, progress: StepProgress) -> None: ...

    async def on_result(
        self, job_id: str, result: GenerationResult | None, error: str | None = None
    ) -> None: ...

    def wake(self) -> None: ...


class Backend(Protocol):
    """Runs batches somewhere: a thread of this process, or GPU workers behind Redis."""

    async def start(self, sink: BackendSink) -> None: ...

    async def close(self) -> None: ...

    def capacity(self) -> int:
        """Batches that can run at once (at least 1 for ETAs)."""
        ...

    def free_slots(self, model: str) -> int: ...

    def run(self, jobs: list[Job]) -> None:
        """Start the batch and return at once; results come back through the sink."""
        ...

    def cancel(self, job_id: str) -> None: ...

    def workers(self) -> list[WorkerInfo]:
        """The GPU workers ready to take batches (the in-process runner is one)."""
        ...


class Limits(BaseModel):
    """Per-guild overrides of the configured limits, passed by the studio with each submit."""

    model_config = ConfigDict(extra="forbid")

    per_user_cap: PerUserCap | None = None
    per_guild_cap: PerGuildCap | None = None
    cooldown_seconds: CooldownSeconds | None = None


_FINAL_KINDS: dict[JobStatus, EventKind] = {
    JobStatus.DONE: "done",
    JobStatus.BLOCKED: "done",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
}


@dataclass
class _Batch:
    jobs: list[Job]
    started: float
    pending: set[str] = field(default_factory=set)


class QueueService:
    def __init__(
        self,
        config: QueueConfig,
        store: JobStore,
        backend: Backend,
        *,
        metrics: QueueMetrics | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.backend = backend
        self.metrics = metrics
        self.scheduler = FairScheduler(config.priority_weights)
        self.estimator = ThroughputEstimator(config.eta_smoothing)
        self._running: dict[str, _Batch] = {}
        self._last_submit: dict[str, float] = {}
        self._last_step: dict[str, float] = {}
        self._subscribers: dict[str | None, set[asyncio.Queue[QueueEvent]]] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # --- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover from the store (queued jobs in order, undelivered running jobs again)."""
        for job in self.store.recover():
            self.scheduler.add(job)
        await self.backend.start(self)
        self._tasks = [
            asyncio.create_task(self._dispatch_loop(), name="queue-dispatch"),
            asyncio.create_task(self._purge_loop(), name="queue-retention"),
        ]
        self.wake()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.backend.close()
        if self.metrics is not None:
            self.metrics.close()

    # --- the bot's calls --------------------------------------------------------------------

    async def submit(
        self,
        *,
        guild_id: str,
        channel_id: str,
        user_id: str,
        request: GenerationRequest,
        priority: str = "default",
        origin: Origin | None = None,
        limits: Limits | None = None,
    ) -> Ticket:
        """Queue a job, or raise ``Refusal`` naming the limit and when it frees up."""
        if priority not in self.config.priority_weights:
            allowed = ", ".join(sorted(self.config.priority_weights))
            raise InvalidRequest("priority", f"unknown class {priority!r} (one of {allowed})")
        self._check_limits(guild_id, user_id, limits or Limits())
        job = Job(
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            priority=priority,
            origin=origin or Origin(),
            request=request,
        )
        # The request id doubles as the job id, so engine progress maps straight to jobs.
        job.request = request.model_copy(update={"request_id": job.id})
        job = self.store.add(job)
        self._last_submit[user_id] = job.created_at
        self.scheduler.add(job)
        ticket = self._tickets(stop_at=job.id)[job.id]
        self._emit(
            QueueEvent(job_id=job.id, kind="queued", **ticket.model_dump(exclude={"job_id"}))
        )
        self._update_metrics()
        self.wake()
        return ticket

    async def cancel(self, job_id: str, *, user_id: str, is_moderator: bool = False) -> JobStatus:
        """Cancel a queued job at once (→ cancelled) or a running one at its next step (→ running).

        Returns the job's status after the call; a finished job is left as it is.
        """
        job = self.get(job_id)
        if job.user_id != user_id and not is_moderator:
            raise NotAllowed("only the job's author or a moderator can cancel it")
        if job_id in self.scheduler:
            self.scheduler.remove(job_id)
            if self.store.finish(job_id, JobStatus.CANCELLED, error="cancelled by a user"):
                self._emit(QueueEvent(job_id=job_id, kind="cancelled", error="cancelled"))
            self._publish_positions()
            self._update_metrics()
            return JobStatus.CANCELLED
        if job_id in self._running:
            self.backend.cancel(job_id)
            return JobStatus.RUNNING
        return job.status

    def get(self, job_id: str) -> Job:
        job = self.store.get(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    def ticket(self, job_id: str) -> Ticket | None:
        """Position and ETA of a queued job; None once it has left the queue."""
        return self._tickets(stop_at=job_id).get(job_id)

    def mark_delivered(self, job_id: str) -> bool:
        """True the first time only: the bot delivers a job's result exactly once."""
        return self.store.mark_delivered(job_id)

    def block(self, job_id: str, reason: str) -> bool:
        """The safety policy withheld a done job's images."""
        return self.store.block(job_id, reason)

    def undelivered(self) -> list[Job]:
        return self.store.undelivered()

    def workers(self) -> list[WorkerInfo]:
        """Each live worker with its models, device and queue depth (for ``/info``)."""
        return self.backend.workers()

    def queue_length(self) -> int:
        return len(self.scheduler)

    async def events(self, job_id: str) -> AsyncIterator[QueueEvent]:
        """A job's events from now on, starting with its current state; ends after the last."""
        queue: asyncio.Queue[QueueEvent] = asyncio.Queue()
        self._subscribers.setdefault(job_id, set()).add(queue)
        try:
            first = self._snapshot(self.get(job_id))
            yield first
            if first.final:
                return
            while True:
                event = await queue.get()
                yield event
                if event.final:
                    return
        finally:
            self._unsubscribe(job_id, queue)

    async def all_events(self) -> AsyncIterator[QueueEvent]:
        """Every job's transitions (not per-step progress): for logs, dashboards, the bot."""
        queue: asyncio.Queue[QueueEvent] = asyncio.Queue()
        self._subscribers.setdefault(None, set()).add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._unsubscribe(None, queue)

    # --- limits and positions ---------------------------------------------------------------

    def _check_limits(self, guild_id: str, user_id: str, limits: Limits) -> None:
        now = time.time()
        cooldown = (
            self.config.cooldown_seconds
            if limits.cooldown_seconds is None
            else limits.cooldown_seconds
        )
        if cooldown > 0:
            last = self._last_submit.get(user_id)
            if last is None:
                last = self.store.last_submit(user_id)
            if last is not None and now - last < cooldown:
                wait = cooldown - (now - last)
                raise Refusal(
                    "cooldown",
                    cooldown,
                    wait,
                    f"slow down: one request every {cooldown:g} s; try again in {wait:.0f} s",
                )
        pending = self.scheduler.jobs() + [j for b in self._batches() for j in b.jobs]
        mine = [j for j in pending if j.user_id == user_id]
        user_cap = limits.per_user_cap or self.config.per_user_cap
        if len(mine) >= user_cap:
            wait = self._frees_up(mine)
            raise Refusal(
                "per_user_cap",
                user_cap,
                wait,
                f"you already have {len(mine)} jobs waiting (the limit is {user_cap}); "
                f"try again when one finishes, in about {wait:.0f} s",
            )
        guild = [j for j in pending if j.guild_id == guild_id]
        guild_cap = limits.per_guild_cap or self.config.per_guild_cap
        if len(guild) >= guild_cap:
            wait = self._frees_up(guild)
            raise Refusal(
                "per_guild_cap",
                guild_cap,
                wait,
                f"this server already has {len(guild)} jobs waiting (the limit is {guild_cap}); "
                f"try again in about {wait:.0f} s",
            )
        if len(pending) >= self.config.global_cap:
            wait = self._frees_up(pending)
            raise Refusal(
                "global_cap",
                self.config.global_cap,
                wait,
                f"the queue is full ({len(pending)} jobs); try again in about {wait:.0f} s",
            )

    def _frees_up(self, jobs: list[Job]) -> float:
        """Seconds until the first of ``jobs`` finishes (running ones first)."""
        ids = {j.id for j in jobs}
        tickets = self._tickets()
        waits = [tickets[i].eta_seconds for i in ids if i in tickets]
        waits += [self._remaining(b) for b in self._batches() if any(j.id in ids for j in b.jobs)]
        return min(waits, default=0.0)

    def _batches(self) -> list[_Batch]:
        unique: dict[int, _Batch] = {id(b): b for b in self._running.values()}
        return list(unique.values())

    def _remaining(self, batch: _Batch) -> float:
        total = sum(self.estimator.estimate(j.request) for j in batch.jobs)
        return max(0.0, total - (time.monotonic() - batch.started))

    def _tickets(self, stop_at: str | None = None) -> dict[str, Ticket]:
        """Position and ETA of every queued job (up to ``stop_at``) in one pass over the order.

        Plain floats in the loop and a heap of slot free times: a 500-job queue costs well
        under a millisecond, so a burst of submits does not stall the event loop.
        """
        slots = max(1, self.backend.capacity())
        busy = sorted(self._remaining(b) for b in self._batches())[:slots]
        free_at = busy + [0.0] * (slots - len(busy))
        heapq.heapify(free_at)
        costs: dict[tuple[object, ...], float] = {}
        etas: list[tuple[str, float]] = []
        for job in self.scheduler.order():
            request = job.request
            key = (*self.estimator.key(request), request.count)
            cost = costs.get(key)
            if cost is None:
                cost = costs[key] = self.estimator.estimate(request)
            end = heapq.heappop(free_at) + cost
            heapq.heappush(free_at, end)
            etas.append((job.id, end))
            if job.id == stop_at:
                break
        return {
            job_id: Ticket(job_id=job_id, position=position, eta_seconds=eta)
            for position, (job_id, eta) in enumerate(etas)
            if stop_at is None or job_id == stop_at
        }

    def _publish_positions(self) -> None:
        """Tell listeners of queued jobs their new place (only jobs someone listens to)."""
        watched = [k for k in self._subscribers if k is not None and k in self.scheduler]
        if not watched:
            return
        tickets = self._tickets()
        for job_id in watched:
            ticket = tickets[job_id]
            self._emit(
                QueueEvent(
                    job_id=job_id,
                    kind="queued",
                    position=ticket.position,
                    eta_seconds=ticket.eta_seconds,
                )
            )

    # --- dispatch and results ---------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def _dispatch_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                self._dispatch()
            except Exception:  # a store error must not end dispatching for good
                log.exception("dispatching failed; retrying on the next event")

    async def _purge_loop(self) -> None:
        """Apply the retention at start-up and then hourly, off the loop."""
        while True:
            try:
                await asyncio.to_thread(self.store.purge, self.config.retention_days)
            except Exception:
                log.exception("retention purge failed; trying again in an hour")
            await asyncio.sleep(3600)

    def _dispatch(self) -> None:
        dispatched = False
        while len(self.scheduler):
            batch = self.scheduler.next_batch(
                self.config.max_batch, lambda model: self.backend.free_slots(model) > 0
            )
            if not batch:
                break
            ids = [job.id for job in batch]
            self.store.mark_running(ids)
            record = _Batch(jobs=batch, started=time.monotonic(), pending=set(ids))
            for job in batch:
                self._running[job.id] = record
                self._emit(QueueEvent(job_id=job.id, kind="started"))
            if self.metrics:
                self.metrics.observe_batch(sum(j.request.count for j in batch))
            self.backend.run(batch)
            dispatched = True
        if dispatched:
            self._publish_positions()
            self._update_metrics()

    def on_progress(self, progress: StepProgress) -> None:
        now = time.monotonic()
        last_step = progress.step >= progress.total_steps
        for job_id in progress.request_ids:
            if job_id not in self._running:
                continue
            previous = self._last_step.get(job_id)
            interval = self.config.progress_interval_seconds
            if previous is not None and now - previous < interval and not last_step:
                continue
            self._last_step[job_id] = now
            self._emit(
                QueueEvent(
                    job_id=job_id,
                    kind="step",
                    step=progress.step,
                    total_steps=progress.total_steps,
                )
            )
            if progress.preview is not None:
                self._emit(QueueEvent(job_id=job_id, kind="preview", preview=progress.preview))

    async def on_result(
        self, job_id: str, result: GenerationResult | None, error: str | None = None
    ) -> None:
        """One job's outcome; duplicates (a reclaimed job finishing twice) are ignored."""
        batch = self._running.get(job_id)
        if batch is None or job_id not in batch.pending:
            return
        if result is not None and result.cancelled:
            status, reason, paths, seeds = JobStatus.CANCELLED, "cancelled", [], []
        elif result is not None:
            try:
                paths = await asyncio.to_thread(self.store.save_images, job_id, result)
                status, reason, seeds = JobStatus.DONE, None, result.seeds
            except OSError as exc:
                status, paths, seeds = JobStatus.FAILED, [], []
                reason = f"could not save the images: {exc.strerror or exc}"
        else:
            status, reason, paths, seeds = JobStatus.FAILED, error or "unknown error", [], []
        if batch is not self._running.get(job_id) or job_id not in batch.pending:
            return  # a duplicate arrived while this one was saving
        batch.pending.discard(job_id)
        del self._running[job_id]
        self._last_step.pop(job_id, None)
        flags = [i.model_nsfw for i in result.images] if status is JobStatus.DONE and result else []
        self.store.finish(
            job_id, status, error=reason, image_paths=paths, seeds=seeds, model_nsfw=flags
        )
        self._emit(
            QueueEvent(
                job_id=job_id,
                kind=_FINAL_KINDS[status],
                error=reason,
                image_paths=paths,
                seeds=seeds,
            )
        )
        if not batch.pending:
            seconds = time.monotonic() - batch.started
            images = sum(j.request.count for j in batch.jobs)
            self.estimator.record(batch.jobs[0].request, images, seconds)
            if self.metrics:
                steps = batch.jobs[0].request.steps
                self.metrics.observe_steps(steps, seconds)
        if self.metrics:
            job = next(j for j in batch.jobs if j.id == job_id)
            self.metrics.observe_job(status.value, time.time() - job.created_at)
        self._update_metrics()
        self.wake()

    # --- events -----------------------------------------------------------------------------

    def _snapshot(self, job: Job) -> QueueEvent:
        if job.id in self.scheduler:
            ticket = self._tickets(stop_at=job.id)[job.id]
            return QueueEvent(
                job_id=job.id,
                kind="queued",
                position=ticket.position,
                eta_seconds=ticket.eta_seconds,
            )
        if job.status is JobStatus.RUNNING:
            return QueueEvent(job_id=job.id, kind="started")
        return QueueEvent(
            job_id=job.id,
            kind=_FINAL_KINDS[job.status],
            error=job.error,
            image_paths=job.image_paths,
            seeds=job.seeds,
        )

    def _emit(self, event: QueueEvent) -> None:
        for queue in self._subscribers.get(event.job_id, ()):
            queue.put_nowait(event)
        if event.kind not in ("step", "preview"):
            for queue in self._subscribers.get(None, ()):
                queue.put_nowait(event)

    def _unsubscribe(self, key: str | None, queue: asyncio.Queue[QueueEvent]) -> None:
        queues = self._subscribers.get(key)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._subscribers[key]

    def _update_metrics(self) -> None:
        if self.metrics is None:
            return
        per_guild: dict[str, int] = {}
        for job in self.scheduler.jobs():
            per_guild[job.guild_id] = per_guild.get(job.guild_id, 0) + 1
        self.metrics.set_queue_lengths(per_guild)
