"""Queue benchmark: batching, fairness under skew, overhead, loop lag, Redis scale-out.

    python bench/queue.py [--quick] [--engine auto|tiny|fake]

Every figure is a ratio or a distribution measured side by side in this run. The engine is the
diffusers engine on the built-in tiny model (``--engine tiny``, the default of a full run) or the
test engine, which sleeps per denoising step like a GPU would (``--engine fake``, the default of
``--quick``); the output says which. The Redis part always runs the test engine in its worker
processes: on a CPU-only machine two workers share the same cores, which says nothing about
adding GPUs. The last line is one JSON object with every figure.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)  # this file is queue.py: keep the standard library's queue visible

import argparse  # noqa: E402
import asyncio  # noqa: E402
import importlib.util  # noqa: E402
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

from generation.config import QueueConfig  # noqa: E402
from generation.engine_api import CancelCheck, ImageEngine, ProgressCallback  # noqa: E402
from generation.queue import JobStore, QueueService  # noqa: E402
from generation.queue.redis_transport import RedisBackend  # noqa: E402
from generation.queue.runner import InProcessRunner  # noqa: E402
from generation.requests import GenerationRequest, GenerationResult  # noqa: E402
from tests.generation.queue.fakes import FakeEngine  # noqa: E402
from tests.generation.queue.redis_server import RedisServer  # noqa: E402

BATCH_COST = 1 / 3  # fake engine: batch of 4 ≈ 2× images/s, as SD 1.5 on an A100


class TimedEngine:
    """Any engine, with the wall-clock span of each request's engine call recorded."""

    def __init__(self, engine: ImageEngine) -> None:
        self.engine = engine
        self.spans: dict[str, tuple[float, float]] = {}

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
        for r in requests:
            self.spans[r.request_id] = (start, end)
        return results


def engine_factory(kind: str, step_seconds: float, cache: Path) -> Callable[[], ImageEngine]:
    """Fresh engines of one kind; the tiny model is built and loaded once, before any timing."""
    if kind == "fake":
        return lambda: FakeEngine(step_seconds=step_seconds, batch_cost=BATCH_COST)
    from generation.config import EngineConfig
    from generation.engine import DiffusersEngine
    from generation.loading import PipelineLoader

    config = EngineConfig(cache_dir=cache, device="cpu")
    loader = PipelineLoader(config)
    loader.get(config.default_model)
    return lambda: DiffusersEngine(loader, config)


def config_for(folder: Path, **fields: Any) -> QueueConfig:
    values: dict[str, Any] = {
        "db_path": folder / f"{uuid.uuid4().hex}.db",
        "images_dir": folder / "images",
        "per_user_cap": 100,
        "per_guild_cap": 10_000,
        "global_cap": 10_000,
        "progress_interval_seconds": 1.5,
    }
    values.update(fields)
    return QueueConfig(**values)


def request(steps: int, seed: int) -> GenerationRequest:
    return GenerationRequest(
        prompt="a lighthouse at dusk", width=64, height=64, steps=steps, seed=seed
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
    engine: ImageEngine, folder: Path, max_batch: int, users: int, jobs: int, steps: int
) -> float:
    """Images per second for ``users`` × ``jobs`` submitted at once."""
    config = config_for(folder, max_batch=max_batch)

    async def body(service: QueueService) -> float:
        started = time.perf_counter()
        ids = []
        for j in range(jobs):
            for u in range(users):
                ticket = await service.submit(
                    guild_id="g", channel_id="c", user_id=f"u{u}", request=request(steps, j)
                )
                ids.append(ticket.job_id)
        await wait_all(service, ids)
        return len(ids) / (time.perf_counter() - started)

    return float(await with_service(config, InProcessRunner(engine), body))


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


async def fairness(engine: ImageEngine, folder: Path, steps: int) -> dict[str, Any]:
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
                    guild_id="g", channel_id="c", user_id="heavy", request=request(steps, i)
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
                        guild_id="g", channel_id="c", user_id=f"light{u}", request=request(steps, k)
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


async def overhead(engine: TimedEngine, folder: Path, steps: int, jobs: int) -> dict[str, float]:
    """Submit → engine start and engine end → result event, against the engine's own time."""
    config = config_for(folder, max_batch=1)

    async def body(service: QueueService) -> dict[str, float]:
        before, after, engine_time = [], [], []
        for i in range(jobs):
            submitted = time.perf_counter()
            ticket = await service.submit(
                guild_id="g", channel_id="c", user_id="u", request=request(steps, i)
            )
            done = (await wait_all(service, [ticket.job_id]))[ticket.job_id]
            start, end = engine.spans[ticket.job_id]
            before.append(start - submitted)
            after.append(done - end)
            engine_time.append(end - start)
        per_job = statistics.median(b + a for b, a in zip(before, after, strict=True))
        return {
            "submit_to_start_ms": round(statistics.median(before) * 1000, 2),
            "end_to_result_ms": round(statistics.median(after) * 1000, 2),
            "overhead_over_engine": round(per_job / statistics.median(engine_time), 4),
        }

    return dict(await with_service(config, InProcessRunner(engine), body))


async def loop_lag(engine: ImageEngine, folder: Path, steps: int, burst: int) -> dict[str, float]:
    """Lag of a 5 ms timer while ``burst`` jobs arrive and the engine is busy."""
    config = config_for(folder, max_batch=4, progress_interval_seconds=0.0)

    async def body(service: QueueService) -> dict[str, float]:
        lags: list[float] = []
        stop = asyncio.Event()

        async def probe() -> None:
            while not stop.is_set():
                before = time.perf_counter()
                await asyncio.sleep(0.005)
                lags.append(time.perf_counter() - before - 0.005)

        prober = asyncio.create_task(probe())
        for i in range(burst):
            await service.submit(
                guild_id="g", channel_id="c", user_id=f"u{i % 100}", request=request(steps, i)
            )
            await asyncio.sleep(0)
        await asyncio.sleep(1.0)  # engine still busy, progress flowing
        stop.set()
        await prober
        lags.sort()
        return {
            "lag_p50_ms": round(lags[len(lags) // 2] * 1000, 2),
            "lag_p99_ms": round(lags[int(len(lags) * 0.99)] * 1000, 2),
            "samples": len(lags),
        }

    return dict(await with_service(config, InProcessRunner(engine), body))


def spawn_worker(
    url: str, name: str, step: float, idle: float, prefix: str
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.generation.queue.worker_script",
            url,
            name,
            str(step),
            str(idle),
            prefix,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def redis_scale_out(folder: Path, step: float, steps: int, jobs: int) -> dict[str, float]:
    """Two worker processes over Redis ÷ one in-process engine; and a SIGKILLed job's recovery."""
    server = RedisServer().start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        local = await _timed_jobs(
            config_for(folder, max_batch=1),
            InProcessRunner(FakeEngine(step_seconds=step)),
            steps,
            jobs,
        )
        prefix = f"b{uuid.uuid4().hex[:6]}"
        idle = 1.0
        config = config_for(
            folder,
            max_batch=1,
            redis_url=server.url,
            stream_prefix=prefix,
            heartbeat_seconds=0.2,
            worker_timeout_seconds=2.0,
            claim_idle_seconds=idle,
        )
        procs = [spawn_worker(server.url, f"w{i}", step, idle, prefix) for i in range(2)]
        remote = await _timed_jobs(config, RedisBackend(config), steps, jobs, workers=2)
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)

        victim = spawn_worker(server.url, "victim", 0.2, idle, prefix)
        procs = [victim]

        async def recover(service: QueueService) -> float:
            await _until(lambda: len(service.workers()) >= 1)
            ticket = await service.submit(
                guild_id="g", channel_id="c", user_id="u", request=request(20, 1)
            )
            events = service.events(ticket.job_id)
            async for event in events:
                if event.kind == "step":
                    break
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            killed = time.perf_counter()
            procs.append(spawn_worker(server.url, "rescuer", 0.0, idle, prefix))
            async for event in events:
                if event.final:
                    break
            return time.perf_counter() - killed

        recovery = await with_service(config, RedisBackend(config), recover)
        return {
            "redis_2_workers_over_1_local": round(local / remote, 3),
            "sigkill_recovery_s": round(float(recovery), 2),
            "claim_idle_seconds": idle,
        }
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        server.stop()


async def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def _timed_jobs(
    config: QueueConfig, backend: Any, steps: int, jobs: int, workers: int = 0
) -> float:
    """Seconds to run ``jobs`` one-image jobs from ``jobs`` users."""

    async def body(service: QueueService) -> float:
        if workers:
            await _until(lambda: len(service.workers()) >= workers)
        started = time.perf_counter()
        ids = [
            (
                await service.submit(
                    guild_id="g", channel_id="c", user_id=f"u{i}", request=request(steps, i)
                )
            ).job_id
            for i in range(jobs)
        ]
        await wait_all(service, ids)
        return time.perf_counter() - started

    return float(await with_service(config, backend, body))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, within a minute")
    parser.add_argument("--engine", choices=("auto", "tiny", "fake"), default="auto")
    args = parser.parse_args()
    kind = args.engine
    if kind == "auto":
        # --quick keeps to a minute: the diffusers engine on a shared CPU takes about a second
        # per tiny job, so the quick run uses the test engine unless told otherwise.
        kind = (
            "fake"
            if args.quick or importlib.util.find_spec("generation.engine") is None
            else "tiny"
        )
    step = 0.01 if args.quick else 0.05
    steps = 4
    figures: dict[str, Any] = {"engine": kind, "quick": args.quick}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cache = folder / "cache"

        engine = engine_factory(kind, step, cache)

        jobs_per_user = 5 if not args.quick else 2
        on = await throughput(engine(), folder, 4, 20, jobs_per_user, steps)
        off = await throughput(engine(), folder, 1, 20, jobs_per_user, steps)
        figures["batching_on_over_off"] = round(on / off, 3)
        print(
            f"throughput 20 users × {jobs_per_user} jobs: batching on {on:.1f} jobs/s, "
            f"off {off:.1f} jobs/s, ratio {on / off:.2f}"
        )

        fair = await fairness(engine(), folder, steps)
        figures["fairness"] = fair
        print(
            f"skew (1 user × 50, 10 users × 1–2): jobs started ahead of each light user "
            f"{list(fair['light_wait_jobs'].values())} (of them the heavy user's: at most "
            f"{fair['max_heavy_jobs_ahead_of_a_light_user']}), Jain index {fair['jain_index']}"
        )

        over = await overhead(TimedEngine(engine()), folder, steps, 10 if args.quick else 30)
        figures["overhead"] = over
        print(
            f"overhead per job: submit→start {over['submit_to_start_ms']} ms, "
            f"end→result {over['end_to_result_ms']} ms, ÷ engine time "
            f"{over['overhead_over_engine']}"
        )

        lag = await loop_lag(engine(), folder, steps, 500)
        figures["loop_lag"] = lag
        print(
            f"500-job burst, engine busy: loop lag p50 {lag['lag_p50_ms']} ms, "
            f"p99 {lag['lag_p99_ms']} ms (goal ≤ 50 ms)"
        )

        if RedisServer.available():
            scale = await redis_scale_out(folder, 0.05, steps, 12 if args.quick else 30)
            figures["redis"] = scale | {"engine": "fake"}
            print(
                f"redis, 2 worker processes ÷ 1 in-process (test engine: each worker a GPU that "
                f"sleeps per step; CPU workers here would share 2 cores): "
                f"{scale['redis_2_workers_over_1_local']:.2f}× throughput; SIGKILLed job "
                f"done {scale['sigkill_recovery_s']} s after the kill "
                f"(claim_idle_seconds={scale['claim_idle_seconds']})"
            )
        else:
            figures["redis"] = None
            print("redis: skipped (no redis-server; run scripts/install-redis.sh)")
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
