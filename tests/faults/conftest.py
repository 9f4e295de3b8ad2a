"""Fixtures of the fault suite: the tiny engine's cache, Redis on 127.0.0.1, and the paths of a
test's state file and logs."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.bot.conftest import bot, engine, settings, tiny_cache
from tests.generation.queue.redis_server import RedisServer

__all__ = ["bot", "engine", "settings", "tiny_cache"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")

needs_redis = pytest.mark.skipif(
    not RedisServer.available(), reason="redis-server missing: run scripts/install-redis.sh"
)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()
