"""The queue through the diffusers engine on the built-in tiny model (64×64, 2 steps)."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("generation.engine")

from generation.config import EngineConfig
from generation.engine import DiffusersEngine
from generation.loading import PipelineLoader
from generation.queue import JobStatus, JobStore, QueueService
from generation.queue.runner import InProcessRunner
from tests.generation.queue.conftest import queue_config
from tests.generation.queue.redis_server import RedisServer
from tests.generation.queue.test_redis import bot_queue, redis_config, until
from tests.generation.queue.test_service import follow, submit

ROOT = Path(__file__).resolve().parents[3]


async def test_jobs_run_through_the_diffusers_engine_batched_with_their_own_seeds(
    tmp_path: Path, loader: PipelineLoader, engine_config: EngineConfig
) -> None:
    await asyncio.to_thread(loader.get, "tiny")  # built and loaded before the clock starts
    engine = DiffusersEngine(loader, engine_config, preview_every=1)
    config = queue_config(tmp_path, max_batch=4)
    store = JobStore(config.db_path, config.images_dir)
    queue = QueueService(config, store, InProcessRunner(engine))
    await queue.start()
    try:
        tickets = [
            await submit(queue, f"u{i}", prompt=f"a red fox {i}", seed=40 + i, count=1 + i % 2)
            for i in range(3)
        ]
        streams = [await follow(queue, t.job_id) for t in tickets]
        assert all(events[-1].kind == "done" for events in streams)
        assert any(e.kind == "preview" for events in streams for e in events)
        for i, ticket in enumerate(tickets):
            job = queue.get(ticket.job_id)
            assert job.status is JobStatus.DONE
            assert job.seeds[0] == 40 + i and len(job.image_paths) == 1 + i % 2
            with Image.open(io.BytesIO(job.image_paths[0].read_bytes())) as image:
                assert image.size == (64, 64)
    finally:
        await queue.close()
        store.close()


@pytest.mark.slow
@pytest.mark.skipif(not RedisServer.available(), reason="redis-server missing")
async def test_muralist_worker_paints_for_the_bot_over_redis(
    tmp_path: Path, engine_config: EngineConfig
) -> None:
    server = RedisServer().start()
    config = redis_config(tmp_path, server.url)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "MURALIST_ENGINE__CACHE_DIR": str(engine_config.cache_dir),
        "MURALIST_ENGINE__DEVICE": "cpu",
        "MURALIST_QUEUE__STREAM_PREFIX": config.stream_prefix,
        "MURALIST_QUEUE__HEARTBEAT_SECONDS": "0.2",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "worker", "--redis-url", server.url, "--name", "gpu0"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        async with bot_queue(config) as queue:
            await until(lambda: len(queue.workers()) == 1, timeout=60)
            ticket = await submit(queue, "u1", seed=7)
            async with asyncio.timeout(60):
                events = [event async for event in queue.events(ticket.job_id)]
            assert events[-1].kind == "done"
            assert queue.get(ticket.job_id).seeds == [7]
        worker.send_signal(signal.SIGTERM)
        _out, err = worker.communicate(timeout=30)
        assert worker.returncode == 0 and "gpu0: stopped after 1 batches" in err
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        server.stop()
