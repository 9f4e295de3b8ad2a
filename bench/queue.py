"""Queue benchmark on the real engine: batching, the batch window, fairness, overhead, loop lag,
and the Redis scale-out with real worker processes.

    python bench/queue.py [--quick] [--threads 1]

Every engine here is the diffusers engine on the built-in tiny model (64², 4 steps, the bot's
default count of 4 images per job; torch with ``--threads`` threads, the same in every process),
never a fake with an assumed cost. Figures are ratios or distributions measured side by side in
this run, each pair interleaved over repeats (medians):

- **batching**: images/s with the default ``max_batch`` 8 (two members' jobs share a call) ÷ with
  ``max_batch`` 4 (one member's job per call), 20 members × jobs submitted at once;
- **batch window**: members arriving one by one (``--gap`` apart) with ``batch_window_seconds``
  0.1 ÷ 0 — images/s and the median wait from submit to done;
- **fairness** under skew (one member queues 50 jobs, ten members 1–2 each), counted;
- **overhead**: submit → engine start and engine end → result event ÷ engine time;
- **loop lag** while a 500-job burst arrives and the engine works;
- **Redis**: two ``muralist worker`` processes (the real CLI, each loading the tiny engine) ÷ one
  in-process engine, and how soon a SIGKILLed worker's batch finishes on the other. On a CPU
  machine the two workers share its cores with this process, so the ratio says what the
  transport costs and whether the work spreads, not what adding GPUs gives.

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)  # this file is queue.py: keep the standard library's queue visible

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from typing import Any  # noqa: E402

from bench.lag import LagProbe  # noqa: E402
from generation.config import EngineConfig, QueueConfig  # noqa: E402
from generation.engine_api import CancelCheck, ImageEngine, ProgressCallback  # noqa: E402
from generation.queue import JobStore, QueueService  # noqa: E402
from generation.queue.redis_transport import RedisBackend  # noqa: E402
from generation.queue.runner import InProcessRunner  # noqa: E402
from generation.requests import GenerationRequest, GenerationResult  # noqa: E402
from tests.generation.queue.redis_server import RedisServer  # noqa: E402

COUNT = 4  # the bot's default images per /imagine
SIZE = 64
STEPS = 4


class TimedEngine:
    """Any engine, with the wall-clock span of each request's engine call recorded."""

    def __init__(self, engine: ImageEngine) -> None:
        self.engine = engine
        self.spans: dict[str, tuple[float, float]] = {}
        self.calls: list[int] = []  # images per call

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        on_progress: ProgressCallback | None = None,
        is_cancelled: CancelCheck | None = None,
    ) -> list[GenerationResult]:
        start = time.perf_counter()
        results = self.engine.generate(requests, on_progress=on_progress, is_cancelled=is_cancelled)
        end = time.perf_counter()
        self.calls.append(sum(r.count for r in requests))
        for r in requests:
            self.spans[r.request_id] = (start, end)
        return results


def tiny_engine(cache: Path) -> ImageEngine:
    """The diffusers engine on the built-in tiny model, loaded and warmed before any timing."""
    from generation.engine import DiffusersEngine
    from generation.loading import PipelineLoader

    config = EngineConfig(cache_dir=cache, device="cpu")
    engine = DiffusersEngine(PipelineLoader(config), config)
    engine.warm_up()
    engine.generate([request(0)])
    return engine


def config_for(folder: Path, **fields: Any) -> QueueConfig:
    values: dict[str, Any] = {
        "db_path": folder / f"{uuid.uuid4().hex}.db",
        "images_dir": folder / "images",
        "per_user_cap": 100,
        "per_guild_cap": 10_000,
        "global_cap": 10_000,
    }
    values.update(fields)
    return QueueConfig(**values)


def request(
    seed: int, count: int = COUNT, steps: int = STEPS, size: int = SIZE
) -> GenerationRequest:
    return GenerationRequest(
        prompt=f"a lighthouse at dusk, take {seed}",
        width=size,
        height=size,
        steps=steps,
        count=count,
        seed=seed,
    )


async def wait_all(service: QueueService, job_ids: list[str]) -> dict[str, float]:
    """Seconds (perf_counter) at which each job's final event reached a listener."""
    finished: dict[str, float] = {}

    async def follow(job_id: str) -> None:
        async for event in service.events(job_id):
            if event.final:
                finished[job_id] = time.perf_counter()

    await asyncio.gather(*(follow(j) for j in job_ids))
    return finished


async def with_service(
    config: QueueConfig, backend: Any, body: Callable[[QueueService], Any]
) -> Any:
    store = JobStore(config.db_path, config.images_dir)
    service = QueueService(config, store, backend)
    await service.start()
    try:
        return await body(service)
    finally:
        await service.close()
        store.close()


async def throughput(
    engine: ImageEngine, folder: Path, max_batch: int, users: int, jobs: int
) -> dict[str, float]:
    """Images per second for ``users`` × ``jobs`` jobs of ``COUNT`` images submitted at once."""
    timed = TimedEngine(engine)
    config = config_for(folder, max_batch=max_batch)

    async def body(service: QueueService) -> float:
        started = time.perf_counter()
        ids = []
        for j in range(jobs):
            for u in range(users):
                ticket = await service.submit(
                    guild_id="g", channel_id="c", user_id=f"u{u}", request=request(j * users + u)
                )
                ids.append(ticket.job_id)
        await wait_all(service, ids)
        return len(ids) * COUNT / (time.perf_counter() - started)

    speed = float(await with_service(config, InProcessRunner(timed), body))
    return {"images_per_s": speed, "images_per_call": statistics.mean(timed.calls)}


async def arrivals(
    engine: ImageEngine, folder: Path, window: float, members: int, gap: float
) -> dict[str, float]:
    """Members arriving ``gap`` apart, each with one job: images/s and the median wait."""
    timed = TimedEngine(engine)
    config = config_for(folder, batch_window_seconds=window)

    async def body(service: QueueService) -> dict[str, float]:
        started = time.perf_counter()
        submitted: dict[str, float] = {}
        followers = []
        for m in range(members):
            ticket = await service.submit(
                guild_id="g", channel_id="c", user_id=f"m{m}", request=request(m)
            )
            submitted[ticket.job_id] = time.perf_counter()
            followers.append(asyncio.create_task(wait_all(service, [ticket.job_id])))
            await asyncio.sleep(gap)
        done: dict[str, float] = {}
        for finished in await asyncio.gather(*followers):
            done |= finished
        wall = time.perf_counter() - started
        waits = [done[j] - submitted[j] for j in submitted]
        return {
            "images_per_s": members * COUNT / wall,
            "wait_p50_s": statistics.median(waits),
            "images_per_call": statistics.mean(timed.calls),
        }

    return dict(await with_service(config, InProcessRunner(timed), body))


def water_fill(demands: dict[str, int], slots: int) -> dict[str, float]:
    """Max-min fair share of ``slots`` jobs among users with these demands."""
    share = dict.fromkeys(demands, 0.0)
    left, open_users = float(slots), set(demands)
    while left > 1e-9 and open_users:
        each = left / len(open_users)
        for user in sorted(open_users, key=lambda u: demands[u]):
            give = min(each, demands[user] - share[user])
            share[user] += give
            left -= give
            if share[user] >= demands[user] - 1e-9:
                open_users.discard(user)
    return share


async def fairness(engine: ImageEngine, folder: Path) -> dict[str, Any]:
    """One user queues 50 jobs, then ten users 1–2 each; how long do the light users wait?"""
    config = config_for(folder, max_batch=1)

    async def body(service: QueueService) -> dict[str, Any]:
        order: list[str] = []

        async def record() -> None:
            async for event in service.all_events():
                if event.kind == "started":
                    order.append(event.job_id)

        recorder = asyncio.create_task(record())
        await asyncio.sleep(0)
        heavy = [
            (
                await service.submit(
                    guild_id="g", channel_id="c", user_id="heavy", request=request(i, count=1)
                )
            ).job_id
            for i in range(50)
        ]
        light: dict[str, list[str]] = {}
        started_before = len(order)
        arrived: dict[str, int] = {}
        for u in range(10):
            arrived[f"light{u}"] = len(order)
            light[f"light{u}"] = [
                (
                    await service.submit(
                        guild_id="g",
                        channel_id="c",
                        user_id=f"light{u}",
                        request=request(k, count=1),
                    )
                ).job_id
                for k in range(1 + u % 2)
            ]
        owner = {j: "heavy" for j in heavy} | {j: u for u, js in light.items() for j in js}
        await wait_all(service, [j for js in light.values() for j in js])
        recorder.cancel()
        # Jobs that started after a light user submitted and before its first job started.
        ahead = {u: order[arrived[u] : min(order.index(j) for j in js)] for u, js in light.items()}
        waits = {u: len(jobs) for u, jobs in ahead.items()}
        heavy_ahead = max(sum(owner[j] == "heavy" for j in jobs) for jobs in ahead.values())
        after = order[started_before:]
        window = max(after.index(j) for js in light.values() for j in js) + 1
        served = {u: 0 for u in ["heavy", *light]}
        for job_id in after[:window]:
            served[owner[job_id]] += 1
        demands = {"heavy": 50 - started_before} | {u: len(js) for u, js in light.items()}
        fair = water_fill(demands, window)
        x = [served[u] / fair[u] for u in served]
        jain = sum(x) ** 2 / (len(x) * sum(v * v for v in x))
        return {
            "light_wait_jobs": waits,
            "max_heavy_jobs_ahead_of_a_light_user": heavy_ahead,
            "jain_index": round(jain, 4),
            "window_jobs": window,
        }

    return dict(await with_service(config, InProcessRunner(engine), body))


async def overhead(engine: ImageEngine, folder: Path, jobs: int) -> dict[str, float]:
    """Submit → engine start and engine end → result event, against the engine's own time."""
    timed = TimedEngine(engine)
    config = config_for(folder, max_batch=COUNT)

    async def body(service: QueueService) -> dict[str, float]:
        before, after, engine_time = [], [], []
        for i in range(jobs):
            submitted = time.perf_counter()
            ticket = await service.submit(
                guild_id="g", channel_id="c", user_id="u", request=request(i)
            )
            done = (await wait_all(service, [ticket.job_id]))[ticket.job_id]
            start, end = timed.spans[ticket.job_id]
            before.append(start - submitted)
            after.append(done - end)
            engine_time.append(end - start)
        per_job = statistics.median(b + a for b, a in zip(before, after, strict=True))
        return {
            "submit_to_start_ms": round(statistics.median(before) * 1000, 2),
            "end_to_result_ms": round(statistics.median(after) * 1000, 2),
            "engine_ms": round(statistics.median(engine_time) * 1000, 2),
            "overhead_over_engine": round(per_job / statistics.median(engine_time), 4),
        }

    return dict(await with_service(config, InProcessRunner(timed), body))


async def loop_lag(engine: ImageEngine, folder: Path, burst: int) -> dict[str, float]:
    """Lag of a 5 ms timer while ``burst`` jobs arrive and the engine is busy."""
    config = config_for(folder, progress_interval_seconds=0.0)

    async def body(service: QueueService) -> dict[str, float]:
        async with LagProbe() as probe:
            for i in range(burst):
                await service.submit(
                    guild_id="g", channel_id="c", user_id=f"u{i % 100}", request=request(i)
                )
                await asyncio.sleep(0)
            await asyncio.sleep(1.0)  # engine still busy, progress flowing
        lags = sorted(probe.lags)
        return {
            "lag_p50_ms": round(lags[len(lags) // 2] * 1000, 2),
            "lag_p99_ms": round(lags[int(len(lags) * 0.99)] * 1000, 2),
            "samples": len(lags),
        }

    return dict(await with_service(config, InProcessRunner(engine), body))


def spawn_worker(
    url: str, name: str, prefix: str, cache: Path, threads: int, idle: float
) -> subprocess.Popen[bytes]:
    """``muralist worker`` as an operator starts it: the real CLI, engine and tiny model."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": str(threads),
        "HF_HUB_OFFLINE": "1",
        "MURALIST_ENGINE__CACHE_DIR": str(cache),
        "MURALIST_ENGINE__DEVICE": "cpu",
        "MURALIST_QUEUE__STREAM_PREFIX": prefix,
        "MURALIST_QUEUE__HEARTBEAT_SECONDS": "0.2",
        "MURALIST_QUEUE__WORKER_TIMEOUT_SECONDS": "2",
        "MURALIST_QUEUE__CLAIM_IDLE_SECONDS": str(idle),
        "MURALIST_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "worker", "--redis-url", url, "--name", name],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )


async def redis_scale_out(
    engine: ImageEngine, folder: Path, cache: Path, threads: int, jobs: int
) -> dict[str, float]:
    """Two worker processes over Redis ÷ one in-process engine; and a SIGKILLed batch's rescue."""
    server = RedisServer().start()
    prefix = f"b{uuid.uuid4().hex[:6]}"
    idle = 1.0
    procs = {
        f"w{i}": spawn_worker(server.url, f"w{i}", prefix, cache, threads, idle) for i in (0, 1)
    }
    try:
        config = config_for(
            folder,
            max_batch=COUNT,
            redis_url=server.url,
            stream_prefix=prefix,
            heartbeat_seconds=0.2,
            worker_timeout_seconds=2.0,
            claim_idle_seconds=idle,
        )
        local_config = config_for(folder, max_batch=COUNT)

        async def ready(service: QueueService) -> None:
            await _until(lambda: len(service.workers()) >= 2, timeout=120)

        await with_service(config, RedisBackend(config), ready)  # both loaded their model
        locals_, remotes = [], []
        for _round in range(2):  # interleaved
            locals_.append(await _timed_jobs(local_config, InProcessRunner(engine), jobs))
            remotes.append(await _timed_jobs(config, RedisBackend(config), jobs, workers=2))

        async def rescue(service: QueueService) -> float:
            await _until(lambda: len(service.workers()) >= 2)
            ticket = await service.submit(
                guild_id="g", channel_id="c", user_id="u", request=request(1, steps=40, size=128)
            )
            events = service.events(ticket.job_id)
            async for event in events:
                if event.kind == "step":
                    break
            await _until(lambda: any(w.busy for w in service.workers()))
            busy = next(w.name for w in service.workers() if w.busy)
            procs[busy].send_signal(signal.SIGKILL)
            procs[busy].wait()
            killed = time.perf_counter()
            async for event in events:
                if event.final:
                    break
            return time.perf_counter() - killed

        recovery = await with_service(config, RedisBackend(config), rescue)
        return {
            "redis_2_workers_over_1_local": round(
                statistics.median(locals_) / statistics.median(remotes), 3
            ),
            "local_s": round(statistics.median(locals_), 2),
            "redis_s": round(statistics.median(remotes), 2),
            "sigkill_recovery_s": round(float(recovery), 2),
            "claim_idle_seconds": idle,
        }
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        server.stop()


async def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def _timed_jobs(config: QueueConfig, backend: Any, jobs: int, workers: int = 0) -> float:
    """Seconds to run ``jobs`` jobs of ``COUNT`` images from ``jobs`` users."""

    async def body(service: QueueService) -> float:
        if workers:
            await _until(lambda: len(service.workers()) >= workers)
        started = time.perf_counter()
        ids = [
            (
                await service.submit(
                    guild_id="g", channel_id="c", user_id=f"u{i}", request=request(i)
                )
            ).job_id
            for i in range(jobs)
        ]
        await wait_all(service, ids)
        return time.perf_counter() - started

    return float(await with_service(config, backend, body))


def ratio(tops: list[float], bottoms: list[float]) -> float:
    return round(statistics.median(tops) / statistics.median(bottoms), 3)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, within a minute")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in every process")
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between arrivals")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    repeats = 2 if args.quick else 4
    figures: dict[str, Any] = {
        "engine": f"tiny diffusers, {SIZE}², {STEPS} steps, count {COUNT}",
        "threads": args.threads,
        "quick": args.quick,
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cache = folder / "cache"
        engine = tiny_engine(cache)

        jobs_per_user = 1 if args.quick else 3
        on, off = [], []
        for _round in range(repeats):
            on.append(await throughput(engine, folder, 8, 20, jobs_per_user))
            off.append(await throughput(engine, folder, 4, 20, jobs_per_user))
        speed_on = [r["images_per_s"] for r in on]
        speed_off = [r["images_per_s"] for r in off]
        figures["batching"] = {
            "max_batch_8_over_4": ratio(speed_on, speed_off),
            "images_per_s_8": round(statistics.median(speed_on), 2),
            "images_per_s_4": round(statistics.median(speed_off), 2),
            "images_per_call_8": round(statistics.median(r["images_per_call"] for r in on), 2),
        }
        b = figures["batching"]
        print(
            f"batching, 20 members × {jobs_per_user} jobs of {COUNT} at once: max_batch 8 "
            f"{b['images_per_s_8']} images/s ({b['images_per_call_8']} per call) ÷ max_batch 4 "
            f"{b['images_per_s_4']} images/s = {b['max_batch_8_over_4']}",
            flush=True,
        )

        members = 12 if args.quick else 30
        held, plain = [], []
        for _round in range(repeats):
            held.append(await arrivals(engine, folder, 0.1, members, args.gap))
            plain.append(await arrivals(engine, folder, 0.0, members, args.gap))
        figures["batch_window"] = {
            "window_s": 0.1,
            "gap_s": args.gap,
            "images_per_s_ratio": ratio(
                [r["images_per_s"] for r in held], [r["images_per_s"] for r in plain]
            ),
            "wait_p50_ratio": ratio(
                [r["wait_p50_s"] for r in held], [r["wait_p50_s"] for r in plain]
            ),
            "images_per_call_with": round(statistics.median(r["images_per_call"] for r in held), 2),
            "images_per_call_without": round(
                statistics.median(r["images_per_call"] for r in plain), 2
            ),
        }
        w = figures["batch_window"]
        print(
            f"batch window 0.1 s, {members} members arriving {args.gap} s apart: images/s ×"
            f"{w['images_per_s_ratio']}, median wait ×{w['wait_p50_ratio']} "
            f"({w['images_per_call_with']} vs {w['images_per_call_without']} images per call)",
            flush=True,
        )

        fair = await fairness(engine, folder)
        figures["fairness"] = fair
        print(
            f"skew (1 user × 50, 10 users × 1–2): jobs started ahead of each light user "
            f"{list(fair['light_wait_jobs'].values())} (of them the heavy user's: at most "
            f"{fair['max_heavy_jobs_ahead_of_a_light_user']}), Jain index {fair['jain_index']}",
            flush=True,
        )

        over = await overhead(engine, folder, 6 if args.quick else 20)
        figures["overhead"] = over
        print(
            f"overhead per job: submit→start {over['submit_to_start_ms']} ms, "
            f"end→result {over['end_to_result_ms']} ms, engine {over['engine_ms']} ms "
            f"→ ÷ engine time {over['overhead_over_engine']}",
            flush=True,
        )

        lag = await loop_lag(engine, folder, 500)
        figures["loop_lag"] = lag
        print(
            f"500-job burst, engine busy: loop lag p50 {lag['lag_p50_ms']} ms, "
            f"p99 {lag['lag_p99_ms']} ms (goal ≤ 50 ms)",
            flush=True,
        )

        if RedisServer.available():
            scale = await redis_scale_out(
                engine, folder, cache, args.threads, 8 if args.quick else 24
            )
            figures["redis"] = scale
            print(
                f"redis, 2 `muralist worker` processes (tiny engine, {args.threads} thread each) "
                f"÷ 1 in-process engine: {scale['redis_s']} s vs {scale['local_s']} s = "
                f"{scale['redis_2_workers_over_1_local']}× throughput (on a shared CPU the "
                f"workers compete for its cores); SIGKILLed batch done "
                f"{scale['sigkill_recovery_s']} s after the kill "
                f"(claim_idle_seconds={scale['claim_idle_seconds']})"
            )
        else:
            figures["redis"] = None
            print("redis: skipped (no redis-server; run scripts/install-redis.sh)")
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
