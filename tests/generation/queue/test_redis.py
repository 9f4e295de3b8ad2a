from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from generation.config import QueueConfig
from generation.queue import JobStatus, JobStore, QueueEvent, QueueService, WorkerInfo
from generation.queue.redis_transport import RedisBackend, connect
from generation.queue.worker import RedisWorker
from tests.generation.queue.conftest import queue_config
from tests.generation.queue.fakes import FakeEngine
from tests.generation.queue.redis_server import RedisServer, free_port
from tests.generation.queue.test_service import follow, submit

pytestmark = pytest.mark.skipif(
    not RedisServer.available(), reason="redis-server missing: run scripts/install-redis.sh"
)

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


def redis_config(tmp_path: Path, url: str, **fields: object) -> QueueConfig:
    values: dict[str, object] = {
        "redis_url": url,
        "stream_prefix": f"t{uuid.uuid4().hex[:8]}",
        "heartbeat_seconds": 0.2,
        "worker_timeout_seconds": 2.0,
        "claim_idle_seconds": 1.0,
        "redis_backoff_max_seconds": 0.5,
    }
    values.update(fields)
    return queue_config(tmp_path, **values)


@asynccontextmanager
async def bot_queue(config: QueueConfig) -> AsyncIterator[QueueService]:
    store = JobStore(config.db_path, config.images_dir)
    service = QueueService(config, store, RedisBackend(config))
    await service.start()
    try:
        yield service
    finally:
        await service.close()
        store.close()


@asynccontextmanager
async def workers(
    config: QueueConfig, *engines: FakeEngine, prefix: str = "w"
) -> AsyncIterator[list[RedisWorker]]:
    running = [
        RedisWorker(config, engine, name=f"{prefix}{i}", models=["tiny"])
        for i, engine in enumerate(engines)
    ]
    tasks = [asyncio.create_task(w.run()) for w in running]
    try:
        yield running
    finally:
        for worker in running:
            worker.stop()
        await asyncio.gather(*tasks)


async def until(condition, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_two_workers_run_every_job_once_with_progress_and_images(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = redis_config(tmp_path, redis_server.url, max_batch=2)
    engines = [FakeEngine(step_seconds=0.02), FakeEngine(step_seconds=0.02)]
    async with bot_queue(config) as queue, workers(config, *engines):
        tickets = [await submit(queue, f"u{i}", steps=3, seed=10 + i) for i in range(6)]
        streams = [await follow(queue, t.job_id) for t in tickets]
        assert all(events[-1].kind == "done" for events in streams)
        assert any(e.kind == "step" for events in streams for e in events)
        ran = [job_id for engine in engines for call in engine.calls for job_id in call]
        assert sorted(ran) == sorted(t.job_id for t in tickets)
        assert all(engine.calls for engine in engines)  # both GPUs took work
        for i, ticket in enumerate(tickets):
            job = queue.get(ticket.job_id)
            assert job.seeds == [10 + i] and job.image_paths[0].read_bytes()[:4] == b"\x89PNG"
        assert sorted((w.name, w.models[0], w.capacity) for w in queue.workers()) == [
            ("w0", "tiny", 1),
            ("w1", "tiny", 1),
        ]

        # A late duplicate of a result (a reclaimed batch finishing twice) changes nothing.
        client = connect(redis_server.url)
        seen: list[str] = []
        listener = asyncio.create_task(_collect(queue, seen))
        await asyncio.sleep(0)
        await client.xadd(
            f"{config.stream_prefix}:results",
            {"job_id": tickets[0].job_id, "batch": "old", "error": "stale duplicate"},
        )
        await _drained(client, config)
        listener.cancel()
        assert seen == []
        assert queue.get(tickets[0].job_id).status is JobStatus.DONE
        await client.aclose()


async def _collect(queue: QueueService, seen: list[str]) -> None:
    async for event in queue.all_events():
        seen.append(event.kind)


async def _drained(client, config: QueueConfig) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(10):
        while True:
            info = await client.xinfo_groups(f"{config.stream_prefix}:results")
            group = info[0]
            if group["pending"] == 0 and group["lag"] == 0:
                return
            await asyncio.sleep(0.02)


async def test_a_sigkilled_workers_job_is_reclaimed_by_another_and_delivered_once(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = redis_config(tmp_path, redis_server.url)
    victim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.generation.queue.worker_script",
            redis_server.url,
            "victim",
            "0.3",
            "1.0",
            config.stream_prefix,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        async with bot_queue(config) as queue:
            await until(lambda: len(queue.workers()) == 1)
            ticket = await submit(queue, "u1", steps=30)
            events = queue.events(ticket.job_id)
            async with asyncio.timeout(15):
                async for event in events:
                    if event.kind == "step":
                        break  # the victim is painting it
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            rescuer = FakeEngine()
            async with workers(config, rescuer):
                kinds = []
                async with asyncio.timeout(20):
                    async for event in events:
                        kinds.append(event.kind)
                assert kinds[-1] == "done" and kinds.count("done") == 1
                assert rescuer.calls == [[ticket.job_id]]
            assert queue.get(ticket.job_id).status is JobStatus.DONE
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()


async def test_redis_down_jobs_wait_and_submit_still_answers(tmp_path: Path) -> None:
    server = RedisServer(free_port())
    config = redis_config(tmp_path, server.url)
    async with bot_queue(config) as queue:
        ticket = await submit(queue, "u1")
        assert ticket.position == 0
        await asyncio.sleep(0.3)
        assert queue.get(ticket.job_id).status is JobStatus.QUEUED
        server.start()
        try:
            async with workers(config, FakeEngine()):
                assert (await follow(queue, ticket.job_id))[-1].kind == "done"
        finally:
            server.stop()


async def test_a_job_that_breaks_the_worker_fails_alone_and_the_worker_goes_on(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = redis_config(tmp_path, redis_server.url, max_batch=1)
    async with bot_queue(config) as queue, workers(config, FakeEngine(fail_prompt="explode")):
        bad = await submit(queue, "u1", prompt="explode now")
        good = await submit(queue, "u2")
        failed = (await follow(queue, bad.job_id))[-1]
        assert failed.kind == "failed" and "explode" in (failed.error or "")
        assert (await follow(queue, good.job_id))[-1].kind == "done"


async def test_a_result_the_worker_cannot_save_fails_its_job_instead_of_running_again(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the shared folder should be")
    config = redis_config(tmp_path, redis_server.url, result_transport="folder", result_dir=blocked)
    engine = FakeEngine()
    async with bot_queue(config) as queue, workers(config, engine):
        ticket = await submit(queue, "u1", steps=2)
        failed = (await follow(queue, ticket.job_id))[-1]
        assert failed.kind == "failed" and "could not save the images" in (failed.error or "")
        assert len(engine.calls) == 1  # not reclaimed and run again


async def test_results_can_travel_through_a_shared_folder_and_cancel_reaches_the_worker(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    shared = tmp_path / "shared"
    config = redis_config(tmp_path, redis_server.url, result_transport="folder", result_dir=shared)
    engine = FakeEngine(step_seconds=0.05)
    async with bot_queue(config) as queue, workers(config, engine):
        ticket = await submit(queue, "u1", steps=2)
        assert (await follow(queue, ticket.job_id))[-1].kind == "done"
        assert list(shared.iterdir()) == []  # collected and cleaned up
        long = await submit(queue, "u1", steps=150)
        await until(lambda: engine.steps_run.get(long.job_id, 0) > 0)
        assert await queue.cancel(long.job_id, user_id="u1") is JobStatus.RUNNING
        assert (await follow(queue, long.job_id))[-1].kind == "cancelled"
        assert engine.steps_run[long.job_id] < 150


async def test_a_result_read_but_not_handled_when_redis_failed_is_read_again(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = redis_config(tmp_path, redis_server.url)
    async with bot_queue(config) as queue, workers(config, FakeEngine()):
        backend = queue.backend
        assert isinstance(backend, RedisBackend)
        fetch = backend._fetch
        failures: list[str] = []

        async def flaky_fetch(job_id: str, fields: dict[str, str]) -> str | None:
            if not failures:  # the connection drops once, after the entry was delivered
                failures.append(job_id)
                raise RedisConnectionError("connection reset")
            return await fetch(job_id, fields)

        monkeypatch.setattr(backend, "_fetch", flaky_fetch)
        ticket = await submit(queue, "u1")
        assert (await follow(queue, ticket.job_id))[-1].kind == "done"
        assert failures == [ticket.job_id]


async def test_unreadable_result_entries_do_not_stop_the_results_that_follow(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = redis_config(tmp_path, redis_server.url)
    client = connect(redis_server.url)
    results = f"{config.stream_prefix}:results"
    async with bot_queue(config) as queue:
        await client.xadd(results, {"batch": "from a worker of another version"})
        await client.set(f"{config.stream_prefix}:result:j1", "not json")
        await client.xadd(results, {"job_id": "j1", "batch": "b1"})
        async with workers(config, FakeEngine()):
            ticket = await submit(queue, "u1")
            assert (await follow(queue, ticket.job_id))[-1].kind == "done"
    await client.aclose()


async def test_cancel_reaches_the_worker_after_a_failed_poll(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = redis_config(tmp_path, redis_server.url)
    engine = FakeEngine(step_seconds=0.05)
    async with bot_queue(config) as queue, workers(config, engine) as (worker,):
        mget = worker.client.mget
        failures: list[object] = []

        async def flaky_mget(keys: list[str]) -> list[str | None]:
            if not failures:  # the first poll for cancel flags meets a dropped connection
                failures.append(keys)
                raise RedisConnectionError("connection reset")
            return await mget(keys)  # type: ignore[no-any-return]

        monkeypatch.setattr(worker.client, "mget", flaky_mget)
        long = await submit(queue, "u1", steps=150)
        await until(lambda: engine.steps_run.get(long.job_id, 0) > 0 and bool(failures))
        assert await queue.cancel(long.job_id, user_id="u1") is JobStatus.RUNNING
        assert (await follow(queue, long.job_id))[-1].kind == "cancelled"
        assert engine.steps_run[long.job_id] < 150


async def test_a_result_the_bot_cannot_read_fails_its_job_with_a_message(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = redis_config(tmp_path, redis_server.url)
    client = connect(redis_server.url)
    prefix = config.stream_prefix
    async with bot_queue(config) as queue:
        # A worker of another version: its heartbeat reads, its results do not.
        beat = WorkerInfo(
            name="old", models=["tiny"], device="cpu", capacity=1, busy=0, time=time.time()
        )
        await client.hset(f"{prefix}:workers", "old", beat.model_dump_json())
        ticket = await submit(queue, "u1")
        await until(lambda: queue.get(ticket.job_id).status is JobStatus.RUNNING)
        await client.set(f"{prefix}:result:{ticket.job_id}", '{"from": "another version"}')
        await client.xadd(f"{prefix}:results", {"job_id": ticket.job_id, "batch": "b"})
        last = (await follow(queue, ticket.job_id))[-1]
        assert last.kind == "failed" and "could not be read" in (last.error or "")
    await client.aclose()


async def _painting(queue: QueueService, job_id: str) -> AsyncIterator[QueueEvent]:
    """The job's events, returned once a worker is painting it (its first step)."""
    events = queue.events(job_id)
    async with asyncio.timeout(15):
        async for event in events:
            if event.kind == "step":
                break
    return events


async def _rest(events: AsyncIterator[QueueEvent]) -> list[str]:
    kinds = []
    async with asyncio.timeout(30):
        async for event in events:
            kinds.append(event.kind)
    return kinds


@pytest.mark.parametrize("persistent", [False, True], ids=["no-persistence", "append-only"])
async def test_a_redis_killed_mid_batch_and_restarted_loses_no_job_and_runs_it_once_more_at_most(
    tmp_path: Path, persistent: bool
) -> None:
    server = RedisServer(appendonly_dir=tmp_path if persistent else None).start()
    config = redis_config(tmp_path, server.url, heartbeat_seconds=0.2)
    engine = FakeEngine(step_seconds=0.05)
    try:
        async with bot_queue(config) as queue, workers(config, engine):
            await until(lambda: len(queue.workers()) == 1)
            ticket = await submit(queue, "u1", steps=20)
            events = await _painting(queue, ticket.job_id)
            server.kill()  # mid-batch: the worker cannot send its result to a dead Redis
            server.start()  # the same port; empty unless it kept an append-only file
            kinds = await _rest(events)
            assert kinds.count("done") == 1 and kinds[-1] == "done"
            backend = queue.backend
            assert isinstance(backend, RedisBackend)
            # Without persistence the batch was lost and sent again; with it, it was kept.
            assert backend.resent == (0 if persistent else 1)
            # New jobs do not stall behind the lost batch.
            after = await submit(queue, "u2", steps=2)
            assert (await follow(queue, after.job_id))[-1].kind == "done"
            assert queue.get(ticket.job_id).status is JobStatus.DONE
    finally:
        server.stop()


async def test_a_slow_worker_keeps_its_batch_however_long_it_paints(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    # Reclaim derived from the heartbeat (no claim_idle_seconds): 2 × 0.2 s, far below the run.
    config = redis_config(tmp_path, redis_server.url, claim_idle_seconds=None)
    assert config.reclaim_after_seconds == 0.4
    slow, idle = FakeEngine(step_seconds=0.1), FakeEngine()
    async with bot_queue(config) as queue, workers(config, slow):
        await until(lambda: len(queue.workers()) == 1)
        ticket = await submit(queue, "u1", steps=25)  # 2.5 s of painting
        events = await _painting(queue, ticket.job_id)
        async with workers(config, idle, prefix="idle"):
            kinds = await _rest(events)
        assert kinds[-1] == "done" and kinds.count("done") == 1
        assert idle.calls == [] and slow.calls == [[ticket.job_id]]


async def test_a_picture_travels_to_a_worker_in_the_message_the_row_keeps_its_hash(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """The worker cannot read the bot's disk: the queue puts the stored picture's bytes back
    into the request it sends; the bot's row keeps only the hash."""
    from tests.generation.queue.test_inputs import PNG, RecordingEngine

    config = redis_config(tmp_path, redis_server.url)
    engine = RecordingEngine()
    async with bot_queue(config) as queue, workers(config, engine):
        ticket = await submit(queue, "u1", mode="img2img", init_image=PNG, strength=0.5)
        assert (await follow(queue, ticket.job_id))[-1].kind == "done"
        [seen] = engine.seen
        assert seen.init_image == PNG
        row = queue.get(ticket.job_id).request
        assert row.init_image is None and row.init_image_sha256 == seen.init_image_sha256
