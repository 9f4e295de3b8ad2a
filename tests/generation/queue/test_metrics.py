from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import pytest

from generation.errors import InvalidRequest
from generation.queue.factory import open_queue
from tests.generation.queue.conftest import queue_config
from tests.generation.queue.fakes import FakeEngine
from tests.generation.queue.redis_server import free_port
from tests.generation.queue.test_service import follow, submit


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


async def test_metrics_are_served_when_a_port_is_set(tmp_path: Path) -> None:
    port = free_port()
    config = queue_config(tmp_path, metrics_port=port, max_batch=1)
    queue = open_queue(config, FakeEngine(step_seconds=0.2))
    await queue.start()
    try:
        first = await submit(queue, "a", guild="g1", steps=3)
        waiting = await submit(queue, "b", guild="g1")
        await submit(queue, "c", guild="g2")
        await asyncio.sleep(0.1)
        busy = await asyncio.to_thread(scrape, port)
        assert busy['muralist_queue_length{guild="g1"}'] == 1.0
        assert busy['muralist_queue_length{guild="g2"}'] == 1.0
        assert busy["muralist_workers_alive"] == 1.0
        await follow(queue, first.job_id)
        await follow(queue, waiting.job_id)
        done = await asyncio.to_thread(scrape, port)
        assert done['muralist_job_seconds_count{status="done"}'] >= 2.0
        assert done["muralist_batch_images_count"] >= 2.0
        assert done["muralist_steps_per_second"] > 0
        assert done['muralist_queue_length{guild="g1"}'] == 0.0
    finally:
        await queue.close()


def test_metrics_are_off_by_default_and_one_process_needs_an_engine(tmp_path: Path) -> None:
    config = queue_config(tmp_path)
    assert config.metrics_port is None
    assert open_queue(config, FakeEngine()).metrics is None
    with pytest.raises(InvalidRequest) as caught:
        open_queue(config, None)
    assert caught.value.field == "redis_url"
