"""Fixtures of part 2's tests; the loopback, engine and settings fixtures come from
``tests/bot/conftest.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.config import Settings
from generation.engine_api import ImageEngine
from loopback import LoopbackDiscord
from tests.bot.cogs.helpers import CommunityBot, community_bot


@pytest.fixture
async def cbot(
    loopback: LoopbackDiscord, settings: Settings, engine: ImageEngine
) -> AsyncIterator[CommunityBot]:
    async with community_bot(loopback, settings, engine) as running:
        yield running
