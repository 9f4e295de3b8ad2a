"""Fault benchmark: how fast the queue heals, and whether crashes lose or repeat jobs.

    python -m bench.faults [--quick] [--cycles N]

1. Reclaim: two worker processes at the default heartbeat and claim settings (``muralist worker``
   on the tiny model, or with ``--quick`` the tests' stand-in engine, which starts in a second
   instead of 15 on a busy 2-core machine: the claims are the same); the one painting a job is
   killed with SIGKILL; seconds until the other owns the batch (Redis' pending list), and until
   the job is done.
2. Redis restart without persistence: Redis killed with SIGKILL while a job is painted and
   started again empty 2 s later (the worker's result, sent meanwhile, is lost too); seconds
   from Redis being back to the lost job done (sent again and painted again), and to a new job
   done.
3. Kill cycles: ``muralist bot`` (over Redis, on the loopback Discord) killed with SIGKILL at a
   random moment N times while members keep asking; jobs lost (never delivered) and duplicated
   (a result shown twice) over the N cycles.

Timings depend on the heartbeat (5 s by default: a dead worker's batch is taken after two
missed heartbeats) more than on the machine. The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bot.endpoints import point_discord_py_at
from generation.config import QueueConfig
from generation.queue import JobStatus, JobStore, QueueService
from generation.queue.redis_transport import WORKER_GROUP, Keys, RedisBackend, connect
from generation.requests import GenerationRequest
from generation.tiny import ensure_tiny_model
from loopback import LoopbackDiscord
from tests.faults.checks import PROGRESS, delivered_jobs, result_posts
from tests.faults.processes import BotProcess, Child, base_env, worker
from tests.generation.queue.redis_server import RedisServer

REDIS_DOWN_SECONDS = 2.0


def spawn_worker(engine: str, cache: Path, url: str, name: str, prefix: str, log: Path) -> Child:
    """A worker process at the default heartbeat and claim settings: ``muralist worker`` on the
    tiny model, or the test's stand-in engine (paced steps, starts in a second)."""
    if engine == "tiny":
        return worker(cache, url, name, log, queue__stream_prefix=prefix)
    argv = [url, name, "0.03", "auto", prefix, str(QueueConfig().heartbeat_seconds)]
    return Child(argv, base_env(cache), log, module="tests.generation.queue.worker_script")


def request(steps: int, seed: int) -> GenerationRequest:
    return GenerationRequest(prompt="a lighthouse", width=64, height=64, steps=steps, seed=seed)


async def until(condition: Any, timeout: float = 60.0, every: float = 0.05) -> float:
    """Seconds until ``condition()`` (sync or async) holds."""
    start = time.monotonic()
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"waited {timeout} s")
        await asyncio.sleep(every)


async def with_queue(config: QueueConfig) -> tuple[QueueService, JobStore]:
    store = JobStore(config.db_path, config.images_dir)
    service = QueueService(config, store, RedisBackend(config))
    await service.start()
    return service, store


async def first_event(queue: QueueService, job_id: str, kind: str) -> None:
    async for event in queue.events(job_id):
        if event.kind == kind or event.final:
            return


async def reclaim_and_restart(work: Path, cache: Path, steps: int, engine: str) -> dict[str, Any]:
    """Phases 1 and 2, on one Redis and one pair of real workers."""
    server = RedisServer().start()
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    config = QueueConfig(
        redis_url=server.url,
        stream_prefix=prefix,
        db_path=work / "queue.db",
        images_dir=work / "images",
        redis_backoff_max_seconds=1.0,
    )
    workers = {
        name: spawn_worker(engine, cache, server.url, name, prefix, work / f"{name}.log")
        for name in ("gpu-a", "gpu-b")
    }
    began = time.monotonic()
    for child in workers.values():
        child.start()
    queue, store = await with_queue(config)
    redis = connect(server.url)
    figures: dict[str, Any] = {
        "heartbeat_seconds": config.heartbeat_seconds,
        "reclaim_after_seconds": config.reclaim_after_seconds,
    }
    try:
        await until(lambda: len(queue.workers()) == 2, 120)
        figures["workers_ready_seconds"] = round(time.monotonic() - began, 1)
        # 1. The worker painting a job dies.
        ticket = await queue.submit(
            guild_id="g", channel_id="c", user_id="u1", request=request(steps, 1)
        )
        await asyncio.wait_for(first_event(queue, ticket.job_id, "step"), 60)
        stream = Keys(prefix).jobs("tiny")
        [pending] = await redis.xpending_range(stream, WORKER_GROUP, "-", "+", 1)
        victim = workers[pending["consumer"]]
        victim.kill()
        killed = time.monotonic()

        async def taken() -> bool:
            now = await redis.xpending_range(stream, WORKER_GROUP, "-", "+", 1)
            return bool(now) and now[0]["consumer"] != pending["consumer"]

        await until(taken, 60)
        figures["reclaim_seconds"] = round(time.monotonic() - killed, 2)
        await asyncio.wait_for(first_event(queue, ticket.job_id, "done"), 60)
        figures["reclaimed_job_done_seconds"] = round(time.monotonic() - killed, 2)

        # 2. Redis dies while the other worker paints; it comes back empty.
        ticket = await queue.submit(
            guild_id="g", channel_id="c", user_id="u2", request=request(steps, 2)
        )
        await asyncio.wait_for(first_event(queue, ticket.job_id, "step"), 60)
        server.kill()
        await asyncio.sleep(REDIS_DOWN_SECONDS)  # the painting worker's result is lost too
        server.start()
        back = time.monotonic()
        await asyncio.wait_for(first_event(queue, ticket.job_id, "done"), 120)
        figures["redis_recovery_seconds"] = round(time.monotonic() - back, 2)
        after = await queue.submit(
            guild_id="g", channel_id="c", user_id="u3", request=request(2, 3)
        )
        await asyncio.wait_for(first_event(queue, after.job_id, "done"), 60)
        figures["redis_new_job_seconds"] = round(time.monotonic() - back, 2)
        backend = queue.backend
        figures["batches_resent"] = backend.resent if isinstance(backend, RedisBackend) else None
        done = [store.get(j) for j in (ticket.job_id, after.job_id)]
        figures["redis_jobs_done"] = sum(j is not None and j.status is JobStatus.DONE for j in done)
    finally:
        await redis.aclose()
        await queue.close()
        store.close()
        for child in workers.values():
            child.kill()
        server.stop()
    return figures


async def kill_cycles(
    work: Path, cache: Path, cycles: int, seed: int, engine: str
) -> dict[str, Any]:
    """Phase 3: the bot killed N times at random moments while members ask."""
    rng = random.Random(seed)
    server = RedisServer().start()
    prefix = f"cycles{uuid.uuid4().hex[:6]}"
    gpu = spawn_worker(engine, cache, server.url, "gpu", prefix, work / "cycles-worker.log")
    gpu.start()
    loopback = await LoopbackDiscord().start()
    point_discord_py_at(loopback.api_base, loopback.gateway_url)
    env = base_env(
        cache,
        queue__redis_url=server.url,
        queue__stream_prefix=prefix,
        queue__db_path=work / "bot.db",
        queue__images_dir=work / "bot-images",
        discord__image_side=64,
        engine__default_steps=2,
    )
    bot = BotProcess(loopback, env, work / "bot.log")
    asked = 0
    try:
        await bot.ready()
        users = [loopback.add_user(f"member{i}") for i in range(3)]
        for _ in range(cycles):
            for user in users[:2]:
                steps = rng.choice((2, 10, 40))
                options = {"prompt": "a tower", "count": 1, "steps": steps}
                await loopback.slash("imagine", options, user=user)
                asked += 1
            await asyncio.sleep(rng.uniform(0.0, 2.5))
            bot.kill()
            await bot.ready()
        # Settle: every job delivered (or given up on after 90 s).
        db = work / "bot.db"
        with contextlib.suppress(TimeoutError):
            await until(lambda: all(delivered_jobs(db).values()), 90, every=0.5)
        jobs = delivered_jobs(db)
        tokens = reply_tokens(db)
        lost = sum(1 for delivered in jobs.values() if not delivered)
        duplicated = sum(1 for job_id in jobs if len(result_posts(loopback, job_id)) > 1)
        left = unacknowledged = orphaned = 0
        for record in loopback.interactions.values():
            if record.response_type is None:
                unacknowledged += 1  # killed before its first answer: Discord tells the member
                continue
            reply = loopback.messages.get(record.original_id or 0)
            if record.token not in tokens:
                orphaned += 1  # killed between the answer and the job: see the note
            elif reply is not None and (reply.loading or reply.content.startswith(PROGRESS)):
                left += 1
    finally:
        bot.stop()
        await loopback.stop()
        gpu.kill()
        server.stop()
    return {
        "kill_cycles": cycles,
        "interactions": asked,
        "jobs": len(jobs),
        "jobs_lost": lost,
        "jobs_duplicated": duplicated,
        "replies_left_in_progress": left,
        "interactions_killed_before_answer": unacknowledged,
        "interactions_killed_before_job": orphaned,
        "bot_starts": bot.starts,
    }


def reply_tokens(db_path: Path) -> set[str]:
    """The interaction tokens studio kept with its jobs (which interaction made a job)."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return {row[0] for row in db.execute("SELECT reply_token FROM studio_jobs") if row[0]}
    finally:
        db.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 kill cycles, short jobs")
    parser.add_argument("--cycles", type=int, default=None, help="bot kill cycles (default 10)")
    parser.add_argument("--seed", type=int, default=12, help="random moments of the kills")
    parser.add_argument(
        "--engine",
        choices=("tiny", "stand-in"),
        default=None,
        help="the workers' engine (default: stand-in with --quick, else tiny)",
    )
    args = parser.parse_args()
    cycles = args.cycles or (3 if args.quick else 10)
    engine = args.engine or ("stand-in" if args.quick else "tiny")
    steps = 30 if args.quick else 150
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="muralist-faults-") as folder:
        work = Path(folder)
        cache = work / "models"
        if engine == "tiny":
            ensure_tiny_model("tiny", cache)
        figures = {"engine": engine} | await reclaim_and_restart(work, cache, steps, engine)
        print(
            f"reclaim after a dead worker: {figures['reclaim_seconds']} s (claim after "
            f"{figures['reclaim_after_seconds']} s of silence; heartbeat "
            f"{figures['heartbeat_seconds']} s); its job done after "
            f"{figures['reclaimed_job_done_seconds']} s"
        )
        print(
            "redis restarted without persistence: lost job done "
            f"{figures['redis_recovery_seconds']} s after Redis was back "
            f"({figures['batches_resent']} batch sent again); a new job done after "
            f"{figures['redis_new_job_seconds']} s"
        )
        figures["phases_1_2_seconds"] = round(time.monotonic() - started, 1)
        figures |= await kill_cycles(work, cache, cycles, args.seed, engine)
        print(
            f"{figures['kill_cycles']} bot kill -9 cycles, {figures['interactions']} /imagine, "
            f"{figures['jobs']} jobs: {figures['jobs_lost']} lost, {figures['jobs_duplicated']} "
            f"duplicated, {figures['replies_left_in_progress']} replies left in progress; "
            f"killed before the answer: {figures['interactions_killed_before_answer']}, between "
            f"the answer and the job: {figures['interactions_killed_before_job']}"
        )
    figures["wall_seconds"] = round(time.monotonic() - started, 1)
    figures["mode"] = "quick" if args.quick else "full"
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
