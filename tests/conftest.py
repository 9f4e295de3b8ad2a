"""Fixtures shared by every test folder: the loopback Discord with discord.py pointed at it."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator

import pytest

from bot.endpoints import point_discord_py_at
from loopback import LoopbackDiscord


@pytest.fixture
async def loopback() -> AsyncIterator[LoopbackDiscord]:
    """A started loopback Discord with discord.py pointed at it; violations fail the test."""
    server = await LoopbackDiscord().start()
    point_discord_py_at(server.api_base, server.gateway_url)
    try:
        yield server
    finally:
        await server.stop()
    if server.violations:
        pytest.fail("the bot broke Discord's rules:\n" + "\n".join(server.violations))


@pytest.fixture(autouse=True)
def _unfreeze_the_heap() -> Iterator[None]:
    """Loading a model freezes the heap (``engine.gc_freeze``), which suits a bot that keeps its
    loader for good; tests drop loaders all the time, so their objects are handed back to the
    collector after each test instead of staying frozen (and uncollectable) to the end."""
    yield
    gc.unfreeze()
