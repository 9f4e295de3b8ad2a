"""An inpainting job (zoom, pan, vary region) on a Redis GPU worker: the canvas crosses in the
message like any input picture (the row keeps its hash) and the mask rides in the request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.generation.queue.redis_server import RedisServer
from tests.generation.queue.test_inputs import PNG, RecordingEngine
from tests.generation.queue.test_redis import bot_queue, redis_config, workers
from tests.generation.queue.test_service import follow, submit

pytestmark = pytest.mark.skipif(
    not RedisServer.available(), reason="redis-server missing: run scripts/install-redis.sh"
)
MASK = b"\x89PNG\r\n\x1a\n" + b"a one-bit mask" * 10


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


async def test_the_canvas_and_mask_reach_the_worker_and_the_row_keeps_the_hash(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = redis_config(tmp_path, redis_server.url)
    engine = RecordingEngine()
    async with bot_queue(config) as queue, workers(config, engine):
        ticket = await submit(
            queue, "u1", mode="inpaint", init_image=PNG, mask_image=MASK, strength=1.0
        )
        assert (await follow(queue, ticket.job_id))[-1].kind == "done"
        [seen] = engine.seen
        assert (seen.init_image, seen.mask_image, seen.mode) == (PNG, MASK, "inpaint")
        row = queue.get(ticket.job_id).request
        assert row.init_image is None and row.init_image_sha256 == seen.init_image_sha256
        assert row.mask_image == MASK
