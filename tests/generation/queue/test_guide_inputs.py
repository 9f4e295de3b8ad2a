"""References' and ControlNet pictures go the way of init images: stored once per hash, the row
keeps hashes only, the engine gets the bytes back, the retention keeps what a stored job names."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from generation.input_store import PRUNE_GRACE_SECONDS
from generation.queue import Job, JobStatus, JobStore, QueueService
from generation.queue.runner import InProcessRunner
from generation.requests import ControlImage, GenerationRequest, ReferenceImage
from tests.generation.queue.conftest import queue_config, request
from tests.generation.queue.redis_server import RedisServer
from tests.generation.queue.test_inputs import RecordingEngine
from tests.generation.queue.test_redis import bot_queue, redis_config, workers
from tests.generation.queue.test_service import follow

STYLE = b"\x89PNG\r\n\x1a\n" + b"a style" * 200
SKETCH = b"\x89PNG\r\n\x1a\n" + b"a sketch" * 200


def guided(**fields: object) -> GenerationRequest:
    digest = {png: hashlib.sha256(png).hexdigest() for png in (STYLE, SKETCH)}
    return request(
        references=[ReferenceImage(kind="style", png=STYLE, sha256=digest[STYLE])],
        control=ControlImage(mode="canny", png=SKETCH, sha256=digest[SKETCH]),
        **fields,
    )


def job(req: GenerationRequest) -> Job:
    return Job(guild_id="g", channel_id="c", user_id="u", request=req)


async def test_rows_keep_hashes_and_the_engine_gets_the_bytes(tmp_path: Path) -> None:
    config = queue_config(tmp_path)
    store = JobStore(config.db_path, config.images_dir)
    engine = RecordingEngine()
    queue = QueueService(config, store, InProcessRunner(engine))
    await queue.start()
    try:
        ticket = await queue.submit(guild_id="g", channel_id="c", user_id="u", request=guided())
        async with asyncio.timeout(20):
            async for _event in queue.events(ticket.job_id):
                pass
        [seen] = engine.seen
        assert seen.references[0].png == STYLE and seen.control and seen.control.png == SKETCH
        row = queue.get(ticket.job_id).request
        assert row.references[0].png is None and row.control and row.control.png is None
        [(text,)] = store._db.execute("SELECT request FROM jobs").fetchall()
        assert len(text) < 2000  # no base64 picture in the row
    finally:
        await queue.close()
        store.close()


def test_the_retention_keeps_the_pictures_a_stored_job_names(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "s.db", tmp_path / "images")
    kept = store.add(job(guided()))
    old = store.add(job(request(mode="img2img", init_image=b"old" * 50, strength=0.5)))
    now = time.time()
    store.finish(old.id, JobStatus.DONE)
    store._db.execute("UPDATE jobs SET finished_at=? WHERE id=?", (now - 40 * 86400, old.id))
    for path in store.inputs.folder.iterdir():
        os.utime(path, (now - 2 * PRUNE_GRACE_SECONDS, now - 2 * PRUNE_GRACE_SECONDS))
    assert store.purge(30, now) == 1
    remaining = {p.stem for p in store.inputs.folder.iterdir()}
    assert remaining == {kept.request.references[0].sha256, kept.request.control.sha256}  # type: ignore[union-attr]
    store.close()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    if not RedisServer.available():
        pytest.skip("redis-server missing: run scripts/install-redis.sh")
    server = RedisServer().start()
    yield server
    server.stop()


async def test_a_redis_worker_gets_the_pictures_bytes(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """The worker has no access to the bot's disk: the message carries the pictures."""
    config = redis_config(tmp_path, redis_server.url)
    engine = RecordingEngine()
    async with bot_queue(config) as queue, workers(config, engine):
        ticket = await queue.submit(guild_id="g", channel_id="c", user_id="u", request=guided())
        assert (await follow(queue, ticket.job_id))[-1].kind == "done"
        [seen] = engine.seen
        assert seen.references[0].png == STYLE and seen.control and seen.control.png == SKETCH
        row = queue.get(ticket.job_id).request
        assert row.references[0].png is None and row.control and row.control.png is None
