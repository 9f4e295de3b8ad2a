"""Fixtures shared by every test folder: the loopback Discord with discord.py pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

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
