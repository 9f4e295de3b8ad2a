"""A plain discord.py client (no Muralist) logged in to the loopback Discord."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import discord
import pytest
from discord import app_commands

from loopback import LoopbackDiscord


class PlainClient(discord.Client):
    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.1)
        self.tree = app_commands.CommandTree(self)
        self.resumed = asyncio.Event()

    async def on_resumed(self) -> None:
        self.resumed.set()


@pytest.fixture
async def client(loopback: LoopbackDiscord) -> AsyncIterator[PlainClient]:
    bot = PlainClient()
    task = asyncio.create_task(bot.start(loopback.token))
    await loopback.wait_until_ready()
    await bot.wait_until_ready()
    yield bot
    await bot.close()
    await asyncio.wait_for(task, 10)
