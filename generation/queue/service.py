"""The queue service the bot calls: submit, cancel, look up, listen.

It owns the fair order and the limits and hands batches to a backend (the in-process runner, or
Redis workers) only when the backend has an idle slot, so fairness holds however many GPUs there
are. Every transition is committed to the store before an event goes out.

Every call the bot makes per interaction costs O(log n) or less in the queue's length: the fair
order and its per-model, per-user, per-guild and per-shape indexes live in memory
(``FairScheduler``), counts of running jobs are kept as they change, and waiting jobs hear of
their new place a bounded number of times (``PositionNotices``), not after every batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, cast

from pydantic import BaseModel, ConfigDict

from generation.config import CooldownSeconds, PerGuildCap, PerUserCap, QueueConfig
from generation.errors import InvalidRequest
from generation.input_store import InputMissing
from generation.queue.eta import Key, ThroughputEstimator
from generation.queue.fairness import FairScheduler
from generation.queue.jobs import (
    EventKind,
    Job,
    JobNotFound,
    JobStatus,
    MemberJob,
    NotAllowed,
    Origin,
    QueueEvent,
    Refusal,
    Ticket,
    WorkerInfo,
)
from generation.queue.notices import PositionNotices
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


_Shape = tuple[Key, int]


class _Inbox:
    """One listener's undelivered events: a deque and the future its reader waits on.

    An ``asyncio.Queue`` is a dozen objects the garbage collector tracks; with a listener per
    waiting job (the bot follows every job) ten thousand of them lengthen every full collection.
    """

    __slots__ = ("_events", "_waiter")

    def __init__(self) -> None:
        self._events: deque[QueueEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def put(self, event: QueueEvent) -> None:
        self._events.append(event)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> QueueEvent:
        while not self._events:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._events.popleft()


def _shape(job: Job) -> _Shape:
    """What a job's cost depends on: the estimator's key and the image count."""
    return (ThroughputEstimator.key(job.request), job.request.count)


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
        self.scheduler = FairScheduler(config.priority_weights, shape=_shape)
        self.estimator = ThroughputEstimator(config.eta_smoothing)
        self.notices = PositionNotices()
        self._running: dict[str, _Batch] = {}
        self._running_users: dict[str, set[str]] = {}
        self._running_guilds: Counter[str] = Counter()
        self._hold_until: float | None = None
        self._last_submit: dict[str, float] = {}
        self._last_step: dict[str, float] = {}
        self._subscribers: dict[str | None, set[_Inbox]] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # --- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover from the store (queued jobs in order, undelivered running jobs again)."""
        for job in self.store.recover():
            self.scheduler.add(job)
        for position, job in enumerate(self.scheduler.order()):
            self.notices.track(job.id, position, self.scheduler.removed)
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
        ticket = self._ticket(job.id)
        assert ticket is not None
        self.notices.track(job.id, ticket.position, self.scheduler.removed)
        self._emit(
            QueueEvent(job_id=job.id, kind="queued", **ticket.model_dump(exclude={"job_id"}))
        )
        self._update_metrics(guild_id)
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
            self.notices.forget(job_id)
            if self.store.finish(job_id, JobStatus.CANCELLED, error="cancelled by a user"):
                self._emit(QueueEvent(job_id=job_id, kind="cancelled", error="cancelled"))
            self._publish_positions()
            self._update_metrics(job.guild_id)
            self.wake()  # a held batch may have lost its last companion
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
        """Position and ETA of a queued job; None once it has left the queue. O(log n)."""
        return self._ticket(job_id)

    def user_jobs(
        self, user_id: str, guild_id: str | None = None, *, positions: bool = True
    ) -> list[MemberJob]:
        """A member's unfinished jobs (in ``guild_id`` only, when given), oldest first.

        From memory, never the store: ``/queue`` (with places) and ``/cancel`` and its
        autocomplete (``positions=False``, per keystroke) cost O(k log n) for a member with
        k jobs, however long the queue.
        """
        running = [self._running[i] for i in self._running_users.get(user_id, ())]
        jobs = [job for batch in running for job in batch.jobs if job.user_id == user_id]
        jobs += self.scheduler.jobs_of_user(user_id)
        jobs = sorted(
            (j for j in jobs if guild_id is None or j.guild_id == guild_id),
            key=lambda job: job.seq,
        )
        return [
            MemberJob(
                job=job,
                ticket=self._ticket(job.id) if positions and job.id in self.scheduler else None,
            )
            for job in jobs
        ]

    def waiting(self, guild_id: str | None = None) -> int:
        """Jobs waiting (not running) in one guild, or in all."""
        return len(self.scheduler) if guild_id is None else self.scheduler.count_of_guild(guild_id)

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
        """Jobs waiting in all guilds (``waiting()``)."""
        return len(self.scheduler)

    async def events(self, job_id: str) -> AsyncIterator[QueueEvent]:
        """A job's events from now on, starting with its current state; ends after the last."""
        queue = _Inbox()
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
        queue = _Inbox()
        self._subscribers.setdefault(None, set()).add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._unsubscribe(None, queue)

    # --- limits and positions ---------------------------------------------------------------

    def _check_limits(self, guild_id: str, user_id: str, limits: Limits) -> None:
        """O(1) with the counts kept as jobs come and go; O(log n) to word a refusal."""
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
        mine = self.scheduler.count_of_user(user_id) + len(self._running_users.get(user_id, ()))
        user_cap = limits.per_user_cap or self.config.per_user_cap
        if mine >= user_cap:
            wait = self._frees_up(
                lambda job: job.user_id == user_id, self.scheduler.first_of_user(user_id)
            )
            raise Refusal(
                "per_user_cap",
                user_cap,
                wait,
                f"you already have {mine} jobs waiting (the limit is {user_cap}); "
                f"try again when one finishes, in about {wait:.0f} s",
            )
        guild = self.scheduler.count_of_guild(guild_id) + self._running_guilds[guild_id]
        guild_cap = limits.per_guild_cap or self.config.per_guild_cap
        if guild >= guild_cap:
            wait = self._frees_up(
                lambda job: job.guild_id == guild_id, self.scheduler.first_of_guild(guild_id)
            )
            raise Refusal(
                "per_guild_cap",
                guild_cap,
                wait,
                f"this server already has {guild} jobs waiting (the limit is {guild_cap}); "
                f"try again in about {wait:.0f} s",
            )
        pending = len(self.scheduler) + len(self._running)
        if pending >= self.config.global_cap:
            wait = self._frees_up(lambda _job: True, self.scheduler.first())
            raise Refusal(
                "global_cap",
                self.config.global_cap,
                wait,
                f"the queue is full ({pending} jobs); try again in about {wait:.0f} s",
            )

    def _frees_up(self, match: Callable[[Job], bool], first_queued: str | None) -> float:
        """Seconds until the first matching job finishes: a running one, else the first
        matching one in the queue (which finishes before any other matching queued job)."""
        waits = [self._remaining(b) for b in self._batches() if any(match(j) for j in b.jobs)]
        if first_queued is not None:
            ticket = self._ticket(first_queued)
            if ticket is not None:
                waits.append(ticket.eta_seconds)
        return min(waits, default=0.0)

    def _batches(self) -> list[_Batch]:
        unique: dict[int, _Batch] = {id(b): b for b in self._running.values()}
        return list(unique.values())

    def _remaining(self, batch: _Batch) -> float:
        total = sum(self.estimator.estimate(j.request) for j in batch.jobs)
        return max(0.0, total - (time.monotonic() - batch.started))

    def _ticket(self, job_id: str) -> Ticket | None:
        """Place and ETA of a queued job, from the indexes: O(s log n) for s shapes waiting.

        The ETA is the running batches' remaining time plus the estimated cost of every job
        ahead, shared over the backend's slots, plus the job's own cost.
        """
        shape = self.scheduler.shape_of(job_id)
        position = self.scheduler.position(job_id)
        if shape is None or position is None:
            return None
        slots = max(1, self.backend.capacity())
        busy = sorted(self._remaining(b) for b in self._batches())[:slots]
        ahead = 0.0
        for other, jobs in self.scheduler.ahead_by_shape(job_id):
            ahead += self.estimator.seconds_for(*cast(_Shape, other)) * jobs
        eta = (sum(busy) + ahead) / slots + self.estimator.seconds_for(*cast(_Shape, shape))
        return Ticket(job_id=job_id, position=position, eta_seconds=eta)

    def _publish_positions(self) -> None:
        """Tell the waiting jobs that reached a milestone their new place (``notices``).

        Only jobs popping out of the notices' heap are looked at: after a batch leaves, this
        costs O(k log n) for the k jobs told, not a pass over the queue.
        """
        for job_id, position in self.notices.due(self.scheduler.removed, self.scheduler.position):
            if job_id not in self._subscribers and None not in self._subscribers:
                continue
            ticket = self._ticket(job_id)
            self._emit(
                QueueEvent(
                    job_id=job_id,
                    kind="queued",
                    position=position,
                    eta_seconds=None if ticket is None else ticket.eta_seconds,
                )
            )

    # --- dispatch and results ---------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def _dispatch_loop(self) -> None:
        while True:
            hold = self._hold_until
            if hold is None:
                await self._wake.wait()
            else:  # a held batch goes at its deadline, or sooner when something happens
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.0, hold - time.monotonic()))
            self._wake.clear()
            self._hold_until = None
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
            batch = self.scheduler.peek_batch(
                self.config.max_batch, lambda model: self.backend.free_slots(model) > 0
            )
            if not batch:
                break
            hold = self._hold(batch)
            if hold is not None:
                self._hold_until = time.monotonic() + hold
                break
            self.scheduler.take(batch)
            ids = [job.id for job in batch]
            self.store.mark_running(ids)
            record = _Batch(jobs=batch, started=time.monotonic(), pending=set(ids))
            for job in batch:
                job.status = JobStatus.RUNNING
                self.notices.forget(job.id)
                self._running[job.id] = record
                self._running_users.setdefault(job.user_id, set()).add(job.id)
                self._running_guilds[job.guild_id] += 1
                self._emit(QueueEvent(job_id=job.id, kind="started"))
            if self.metrics:
                self.metrics.observe_batch(sum(j.request.count for j in batch))
            self.backend.run([self._with_input(job) for job in batch])
            dispatched = True
            self._update_metrics(*{job.guild_id for job in batch})
        if dispatched:
            self._publish_positions()

    def _with_input(self, job: Job) -> Job:
        """The job as a backend runs it: its input picture's bytes back in the request (the
        row keeps only the hash; a Redis worker has no access to this disk). A picture the
        retention removed stays missing, and the engine fails that job saying so."""
        request = self.store.inputs.attach_guides(job.request)  # references, ControlNet
        if request.init_image_sha256 is not None and request.init_image is None:
            with contextlib.suppress(InputMissing):
                request = self.store.inputs.attach(request)
        return job if request is job.request else job.model_copy(update={"request": request})

    def _hold(self, batch: list[Job]) -> float | None:
        """Seconds to hold a batch that is not full for same-shape jobs to join, or None.

        Only with ``batch_window_seconds`` set, nothing running (the GPU would sit idle
        anyway) and nothing else waiting (no other job is delayed), and never longer than the
        window after the batch's first job arrived. Under load batches fill by themselves.
        """
        window = self.config.batch_window_seconds
        if window <= 0 or self._running or len(batch) < len(self.scheduler):
            return None
        if sum(job.request.count for job in batch) >= self.config.max_batch:
            return None
        waited = time.time() - batch[0].created_at
        return window - waited if waited < window else None

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
        job = next(j for j in batch.jobs if j.id == job_id)
        mine = self._running_users.get(job.user_id)
        if mine is not None:
            mine.discard(job_id)
            if not mine:
                del self._running_users[job.user_id]
        self._running_guilds[job.guild_id] -= 1
        if not self._running_guilds[job.guild_id]:
            del self._running_guilds[job.guild_id]
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
            self.metrics.observe_job(status.value, time.time() - job.created_at)
        self.wake()

    # --- events -----------------------------------------------------------------------------

    def _snapshot(self, job: Job) -> QueueEvent:
        ticket = self._ticket(job.id)
        if ticket is not None:
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
            queue.put(event)
        if event.kind not in ("step", "preview"):
            for queue in self._subscribers.get(None, ()):
                queue.put(event)

    def _unsubscribe(self, key: str | None, queue: _Inbox) -> None:
        queues = self._subscribers.get(key)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._subscribers[key]

    def _update_metrics(self, *guild_ids: str) -> None:
        """The queue-length gauge of the guilds whose queue changed."""
        if self.metrics is None:
            return
        for guild_id in guild_ids:
            self.metrics.set_queue_length(guild_id, self.scheduler.count_of_guild(guild_id))
