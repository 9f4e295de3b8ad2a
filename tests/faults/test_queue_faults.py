"""The queue's faults as members see them: a GPU worker killed with SIGKILL, and Redis killed
with SIGKILL and restarted, with and without persistence.

The bot runs in this process (on the loopback Discord) with the Redis backend; the workers are
child processes (``worker_script``: the deterministic stand-in engine, for paced steps) on a real
``redis-server``. Each case: the job is delivered once, its reply finished, new jobs flow after.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.config import Settings
from loopback import FakeUser, Interaction, LoopbackDiscord, StoredMessage
from tests.bot.harness import RunningBot, running_bot
from tests.faults.checks import (
    assert_each_job_delivered_once,
    assert_every_interaction_answered,
    assert_no_progress_left,
)
from tests.faults.conftest import needs_redis
from tests.faults.processes import ROOT
from tests.generation.queue.redis_server import RedisServer

pytestmark = [pytest.mark.slow, needs_redis]


@contextmanager
def worker_process(
    url: str, name: str, prefix: str, step_seconds: float
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process whose batches take as long as their steps (claim derived from its
    0.2 s heartbeat, as by default)."""
    process = subprocess.Popen(
        [
            sys.executable,
            *("-m", "tests.generation.queue.worker_script"),
            *(url, name, str(step_seconds), "auto", prefix),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def redis_settings(settings: Settings, url: str) -> str:
    prefix = f"f{uuid.uuid4().hex[:8]}"
    settings.queue.redis_url = url
    settings.queue.stream_prefix = prefix
    settings.queue.heartbeat_seconds = 0.2
    settings.queue.worker_timeout_seconds = 2.0
    settings.queue.redis_backoff_max_seconds = 0.5
    return prefix


def is_result(message: StoredMessage) -> bool:
    if message.content.startswith(("❌", "🚫", "⚠️")):
        raise AssertionError(message.content)
    return bool(message.embeds) and bool(message.components)


async def painting_job(
    loopback: LoopbackDiscord, bot: RunningBot, user: FakeUser, prompt: str, steps: int
) -> Interaction:
    """Once the worker is up: an /imagine, returned when its worker is painting it."""
    await loopback.wait_for(lambda: len(bot.studio.queue.workers()) == 1)
    options = {"prompt": prompt, "count": 1, "steps": steps}
    record = await loopback.slash("imagine", options, user=user)
    await loopback.wait_original(record, lambda m: "Painting… step" in m.content)
    return record


async def test_a_killed_workers_batch_is_taken_by_another_and_delivered_once(
    loopback: LoopbackDiscord, settings: Settings, redis_server: RedisServer
) -> None:
    prefix = redis_settings(settings, redis_server.url)
    dot = loopback.add_user("dot")
    with worker_process(redis_server.url, "victim", prefix, 0.2) as victim:
        async with running_bot(loopback, settings, None) as bot:  # type: ignore[arg-type]
            record = await painting_job(loopback, bot, dot, "a mill", 30)
            victim.kill()
            victim.wait()
            with worker_process(redis_server.url, "rescuer", prefix, 0.0):
                await loopback.wait_original(record, is_result)
                await bot.bot.idle()
    assert_each_job_delivered_once(loopback, settings.queue.db_path)
    assert_no_progress_left(loopback)
    assert_every_interaction_answered(loopback)


@pytest.mark.parametrize("persistent", [False, True], ids=["no-persistence", "append-only"])
async def test_redis_killed_mid_job_and_restarted_delivers_once_and_keeps_flowing(
    loopback: LoopbackDiscord, settings: Settings, tmp_path: Path, persistent: bool
) -> None:
    server = RedisServer(appendonly_dir=tmp_path if persistent else None).start()
    prefix = redis_settings(settings, server.url)
    eve = loopback.add_user("eve")
    try:
        with worker_process(server.url, "gpu", prefix, 0.1):
            async with running_bot(loopback, settings, None) as bot:  # type: ignore[arg-type]
                record = await painting_job(loopback, bot, eve, "a dam", 20)
                server.kill()
                server.start()
                await loopback.wait_original(record, is_result)
                after = await loopback.slash("imagine", {"prompt": "a weir", "count": 1}, user=eve)
                await loopback.wait_original(after, is_result)
                await bot.bot.idle()
    finally:
        server.stop()
    assert_each_job_delivered_once(loopback, settings.queue.db_path)
    assert_no_progress_left(loopback)
    assert_every_interaction_answered(loopback)
