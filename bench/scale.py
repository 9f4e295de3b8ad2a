"""Scale benchmark: the queue with 1,000 and 10,000 jobs waiting, from 100 and 1,000 members.

    python -m bench.scale [--quick] [--sizes 1000,10000] [--lag-seconds S] [--drain-seconds S]

For each size, in one process and one run:

1. **Fill** the queue through ``QueueService.submit`` (10 jobs per member, members in a shuffled
   order, 10 guilds; the default count of 4 images, 64², 2 steps) while the backend holds every
   job back. Reports submit p50/p99 over the whole fill and over its last tenth (the queue near
   full), the fill time, the objects the garbage collector tracks per waiting job and one full
   collection's time; then every job gets a listener, as the bot's delivery follows each job,
   and the objects and the full collection are measured again.
2. **Look-ups**: a job's position (``ticket``), the ``/queue`` view of a member (their jobs in
   this guild with place and ETA, the guild's and the global waiting counts) and ``/cancel``'s
   autocomplete (the member's pending jobs), p50/p99 over 200 random members or jobs, done the
   way the code at hand offers: the service's per-member index when it has one, else the bot's
   path of that code (every pending job loaded from the store, then filtered).
3. **Position broadcast**: one batch leaves the queue (``_dispatch``) while every job is watched:
   the loop time of that dispatch with the listeners served, and how many jobs were told.
4. **Loop lag**: the queue full, the engine (the diffusers engine on the built-in tiny model, CPU,
   one thread) draining it for ``--lag-seconds``; a 5 ms timer's overshoot p50/p99/max.
5. **Drain** the rest instantly (an engine that returns no images) and count the position
   events each job's listener received: an upper bound of the bot's position edits per job.
6. **GC**: every collection's pause while all of the above ran (``gc.callbacks``), and one full
   collection timed after the model loaded, with whatever ``gc.freeze`` the code does.

The same file runs against older code (copy it into a checkout of that code): it uses only
``QueueService``'s long-standing calls where the newer ones are absent, and says which path it
took (``view_path``). The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script from a checkout: the repository, not bench/ (whose queue.py would shadow the
# standard library's queue module), goes first on the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

from bench.lag import LagProbe  # noqa: E402
from generation.config import EngineConfig, QueueConfig  # noqa: E402
from generation.engine_api import CancelCheck, ImageEngine, ProgressCallback  # noqa: E402
from generation.queue import JobStatus, JobStore, QueueService  # noqa: E402
from generation.queue.runner import InProcessRunner  # noqa: E402
from generation.queue.service import BackendSink  # noqa: E402
from generation.requests import GenerationRequest, GenerationResult, StepProgress  # noqa: E402

JOBS_PER_MEMBER = 10
GUILDS = 10
SAMPLES = 200
COUNT = 4  # the bot's default images per /imagine


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def ms(value: float) -> float:
    return round(value * 1000, 3)


class GcPauses:
    """Every garbage collection's pause, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self.paused = False  # while the benchmark itself collects, to time a full collection
        self._started = 0.0

    def full_collection(self) -> float:
        """Seconds of one full collection now (not counted among the pauses)."""
        self.paused = True
        try:
            started = time.perf_counter()
            gc.collect()
            return time.perf_counter() - started
        finally:
            self.paused = False

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if self.paused:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._started))

    def summary(self, since: int) -> dict[str, float]:
        window = self.pauses[since:]
        full = [s for g, s in window if g == 2]
        return {
            "collections": len(window),
            "full_collections": len(full),
            "max_pause_ms": ms(max((s for _, s in window), default=0.0)),
            "max_full_pause_ms": ms(max(full, default=0.0)),
        }


class InstantEngine:
    """Returns each request at once with no images: the queue's own cost, nothing else."""

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        on_progress: ProgressCallback | None = None,
        is_cancelled: CancelCheck | None = None,
    ) -> list[GenerationResult]:
        if on_progress is not None:
            ids = [r.request_id for r in requests]
            on_progress(StepProgress(request_ids=ids, step=1, total_steps=1, elapsed=0.0))
        return [
            GenerationResult(request_id=r.request_id, model=r.model, scheduler=r.scheduler)
            for r in requests
        ]


class SwitchEngine:
    """An engine whose work can be handed to another between batches."""

    def __init__(self, engine: ImageEngine) -> None:
        self.engine = engine

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        on_progress: ProgressCallback | None = None,
        is_cancelled: CancelCheck | None = None,
    ) -> list[GenerationResult]:
        return self.engine.generate(requests, on_progress=on_progress, is_cancelled=is_cancelled)


class GatedRunner(InProcessRunner):
    """The in-process runner, with a gate: closed, no batch leaves the queue; ``permits``
    lets that many batches through; open, every free slot takes one."""

    def __init__(self, engine: ImageEngine) -> None:
        super().__init__(engine)
        self.open = False
        self.permits = 0

    def free_slots(self, model: str) -> int:
        free = super().free_slots(model)
        return free if self.open else min(free, self.permits)

    def run(self, jobs: list[Any]) -> None:
        if not self.open:
            self.permits -= 1
        super().run(jobs)

    async def start(self, sink: BackendSink) -> None:
        await super().start(sink)


def load_tiny_engine(cache: Path) -> tuple[ImageEngine, dict[str, Any]]:
    """The diffusers engine on the built-in tiny model, loaded and warmed before any timing."""
    import torch

    from generation.engine import DiffusersEngine
    from generation.loading import PipelineLoader

    torch.set_num_threads(1)
    config = EngineConfig(cache_dir=cache, device="cpu")
    engine = DiffusersEngine(PipelineLoader(config), config)
    warm_up = getattr(engine, "warm_up", None)
    if warm_up is not None:
        warm_up()
    engine.generate([request(0)])
    tracked = len(gc.get_objects())
    started = time.perf_counter()
    gc.collect()
    full = time.perf_counter() - started
    frozen = gc.get_freeze_count()
    return engine, {
        "tracked_objects": tracked,
        "frozen_objects": frozen,
        "full_collection_after_load_ms": ms(full),
    }


def request(seed: int) -> GenerationRequest:
    return GenerationRequest(
        prompt=f"a lighthouse at dusk, take {seed}",
        width=64,
        height=64,
        steps=2,
        count=COUNT,
        seed=seed,
    )


class Listeners:
    """One listener per job, as the bot's delivery follows each job; counts position events."""

    def __init__(self, service: QueueService) -> None:
        self.service = service
        self.positions: dict[str, int] = {}
        self.final: set[str] = set()
        self.tasks: list[asyncio.Task[None]] = []

    def follow(self, job_id: str) -> None:
        self.positions[job_id] = 0
        self.tasks.append(asyncio.create_task(self._follow(job_id)))

    async def _follow(self, job_id: str) -> None:
        async for event in self.service.events(job_id):
            if event.kind == "queued":
                self.positions[job_id] += 1
            elif event.final:
                self.final.add(job_id)

    def told(self) -> int:
        return sum(self.positions.values())

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def view(service: QueueService, user: str, guild: str) -> int:
    """What ``/queue`` shows a member; returns how many of their jobs it listed."""
    if hasattr(service, "user_jobs"):
        mine = service.user_jobs(user, guild_id=guild)
        service.waiting(guild)
        service.queue_length()
        return len(mine)
    # The bot's path in the older code: every pending job from the store, then filtered.
    pending = await asyncio.to_thread(service.store.by_status, JobStatus.QUEUED, JobStatus.RUNNING)
    lines = 0
    for job in (j for j in pending if j.user_id == user and j.guild_id == guild):
        service.ticket(job.id)
        lines += 1
    sum(1 for j in pending if j.guild_id == guild and j.status is JobStatus.QUEUED)
    service.queue_length()
    return lines


async def autocomplete(service: QueueService, user: str) -> int:
    """What ``/cancel``'s autocomplete lists for a member (per keystroke)."""
    if hasattr(service, "user_jobs"):
        return len(service.user_jobs(user, positions=False))
    pending = await asyncio.to_thread(service.store.by_status, JobStatus.QUEUED, JobStatus.RUNNING)
    return len([j for j in pending if j.user_id == user])


async def timed(action: Any) -> float:
    started = time.perf_counter()
    await action
    return time.perf_counter() - started


async def one_size(
    size: int,
    folder: Path,
    tiny: ImageEngine,
    lag_seconds: float,
    drain_seconds: float,
    gc_log: GcPauses,
) -> dict[str, Any]:
    rng = random.Random(size)
    members = size // JOBS_PER_MEMBER
    config = QueueConfig(
        db_path=folder / f"scale-{size}.db",
        images_dir=folder / f"images-{size}",
        per_user_cap=100,
        per_guild_cap=10_000,
        global_cap=100_000,
    )
    engine = SwitchEngine(InstantEngine())
    runner = GatedRunner(engine)
    store = JobStore(config.db_path, config.images_dir)
    service = QueueService(config, store, runner)
    await service.start()
    listeners = Listeners(service)
    gc_mark = len(gc_log.pauses)
    figures: dict[str, Any] = {"members": members, "max_batch": config.max_batch}
    try:
        # 1. Fill.
        order = [m for m in range(members) for _ in range(JOBS_PER_MEMBER)]
        rng.shuffle(order)
        submits: list[float] = []
        jobs: list[tuple[str, str, str]] = []
        gc_log.full_collection()
        objects_before = len(gc.get_objects())
        fill_started = time.perf_counter()
        for number, member in enumerate(order):
            user, guild = f"m{member}", f"g{member % GUILDS}"
            started = time.perf_counter()
            ticket = await service.submit(
                guild_id=guild, channel_id="c", user_id=user, request=request(number)
            )
            submits.append(time.perf_counter() - started)
            jobs.append((ticket.job_id, user, guild))
            if number % 64 == 0:
                await asyncio.sleep(0)
        fill = time.perf_counter() - fill_started
        queue_objects = len(gc.get_objects()) - objects_before
        queue_collection = gc_log.full_collection()
        for job_id, _user, _guild in jobs:
            listeners.follow(job_id)
        await asyncio.sleep(0.05)  # every listener subscribes and takes its first event
        all_objects = len(gc.get_objects()) - objects_before
        all_collection = gc_log.full_collection()
        tail = submits[-max(1, size // 10) :]
        figures |= {
            "fill_s": round(fill, 2),
            "submit_p50_ms": ms(percentile(submits, 0.5)),
            "submit_p99_ms": ms(percentile(submits, 0.99)),
            "submit_full_p99_ms": ms(percentile(tail, 0.99)),
            "gc_objects_per_job": round(queue_objects / size, 1),
            "full_collection_ms": ms(queue_collection),
            "gc_objects_per_job_with_listeners": round(all_objects / size, 1),
            "full_collection_with_listeners_ms": ms(all_collection),
        }
        print(f"  {size}: filled in {figures['fill_s']} s", flush=True)

        # 2. Look-ups.
        picks = rng.sample(jobs, SAMPLES)
        lookups = []
        for job_id, _user, _guild in picks:
            started = time.perf_counter()
            service.ticket(job_id)
            lookups.append(time.perf_counter() - started)
        views = [await timed(view(service, user, guild)) for _j, user, guild in picks]
        completions = [await timed(autocomplete(service, user)) for _j, user, _g in picks]
        figures |= {
            "position_p50_ms": ms(percentile(lookups, 0.5)),
            "position_p99_ms": ms(percentile(lookups, 0.99)),
            "view_p50_ms": ms(percentile(views, 0.5)),
            "view_p99_ms": ms(percentile(views, 0.99)),
            "autocomplete_p50_ms": ms(percentile(completions, 0.5)),
            "autocomplete_p99_ms": ms(percentile(completions, 0.99)),
            "view_path": "service index" if hasattr(service, "user_jobs") else "store scan",
        }

        # 3. Position broadcast: one batch at a time leaves the queue, every job watched.
        dispatches, told = [], []
        for _ in range(20):
            before = listeners.told()
            runner.permits = 1
            started = time.perf_counter()
            service._dispatch()
            await asyncio.sleep(0)  # the listeners woken by the dispatch take their turn
            dispatches.append(time.perf_counter() - started)
            told.append(listeners.told() - before)
            await asyncio.sleep(0.01)
        figures |= {
            "dispatch_p50_ms": ms(percentile(dispatches, 0.5)),
            "dispatch_p99_ms": ms(percentile(dispatches, 0.99)),
            "told_per_dispatch": statistics.mean(told),
        }

        # 4. Loop lag while the tiny engine drains the full queue.
        engine.engine = tiny
        done_before = len(listeners.final)
        async with LagProbe() as probe:
            runner.open = True
            service.wake()
            await asyncio.sleep(lag_seconds)
        lags = probe.lags
        figures |= {
            "lag_p50_ms": ms(percentile(lags, 0.5)),
            "lag_p99_ms": ms(percentile(lags, 0.99)),
            "lag_max_ms": ms(max(lags)),
            "lag_jobs_done": len(listeners.final) - done_before,
        }

        # 5. Drain the rest at once and count position events per job.
        engine.engine = InstantEngine()
        drain_started = time.perf_counter()
        deadline = drain_started + drain_seconds
        while len(listeners.final) < size and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        finished = [listeners.positions[j] for j, _u, _g in jobs if j in listeners.final]
        figures |= {
            "drain_s": round(time.perf_counter() - drain_started, 2),
            "drained": len(finished),
            "position_events_per_job_mean": round(statistics.mean(finished), 2),
            "position_events_per_job_max": max(finished),
        }
        figures["gc"] = gc_log.summary(gc_mark)
    finally:
        await listeners.close()
        await service.close()
        store.close()
    return figures


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short lag and drain windows")
    parser.add_argument("--sizes", default="1000,10000", help="queue lengths, comma-separated")
    parser.add_argument("--lag-seconds", type=float, help="tiny-engine window (quick: 4 s)")
    parser.add_argument("--drain-seconds", type=float, help="drain time limit (quick: 15 s)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    lag_seconds = args.lag_seconds or (4.0 if args.quick else 15.0)
    drain_seconds = args.drain_seconds or (15.0 if args.quick else 600.0)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="muralist-bench-scale-") as tmp:
        folder = Path(tmp)
        tiny, memory = load_tiny_engine(folder / "models")
        print(
            f"tiny engine loaded: {memory['tracked_objects']} tracked objects, "
            f"{memory['frozen_objects']} frozen; a full collection now takes "
            f"{memory['full_collection_after_load_ms']} ms",
            flush=True,
        )
        gc_log = GcPauses()
        gc.callbacks.append(gc_log)
        results: dict[str, Any] = {}
        try:
            for size in sizes:
                results[str(size)] = await one_size(
                    size, folder, tiny, lag_seconds, drain_seconds, gc_log
                )
        finally:
            gc.callbacks.remove(gc_log)
    for label, f in results.items():
        print(
            f"{label} queued from {f['members']} members (max_batch {f['max_batch']}): "
            f"submit p50 {f['submit_p50_ms']} ms, p99 {f['submit_p99_ms']} ms "
            f"(near full {f['submit_full_p99_ms']} ms; fill {f['fill_s']} s)"
        )
        print(
            f"  GC: {f['gc_objects_per_job']} tracked objects per waiting job, a full collection "
            f"{f['full_collection_ms']} ms; with a listener per job "
            f"{f['gc_objects_per_job_with_listeners']} and "
            f"{f['full_collection_with_listeners_ms']} ms"
        )
        print(
            f"  position look-up p99 {f['position_p99_ms']} ms; /queue view p99 "
            f"{f['view_p99_ms']} ms; autocomplete p99 {f['autocomplete_p99_ms']} ms "
            f"({f['view_path']})"
        )
        print(
            f"  one batch leaves the queue: p50 {f['dispatch_p50_ms']} ms, p99 "
            f"{f['dispatch_p99_ms']} ms, {f['told_per_dispatch']} jobs told its position"
        )
        print(
            f"  loop lag while the tiny engine drains: p50 {f['lag_p50_ms']} ms, p99 "
            f"{f['lag_p99_ms']} ms, max {f['lag_max_ms']} ms ({f['lag_jobs_done']} jobs done)"
        )
        print(
            f"  position events per job: mean {f['position_events_per_job_mean']}, max "
            f"{f['position_events_per_job_max']} ({f['drained']} jobs drained in {f['drain_s']} s)"
        )
        g = f["gc"]
        print(
            f"  GC: {g['collections']} collections, {g['full_collections']} full; longest pause "
            f"{g['max_pause_ms']} ms (full: {g['max_full_pause_ms']} ms)"
        )
    summary = {
        "quick": args.quick,
        "seconds": round(time.perf_counter() - started, 1),
        "engine": "tiny (diffusers, CPU, 1 thread) for the lag window; instant elsewhere",
        "memory": memory,
        "sizes": results,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
