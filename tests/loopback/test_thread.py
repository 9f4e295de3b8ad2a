"""The loopback in a thread of its own: a bot on another loop talks to it, and a burst of 500
connections at once is served without the listen queue overflowing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest
from discord import app_commands

from bot.endpoints import point_discord_py_at
from loopback import LoopbackThread

BURST = 500


@pytest.fixture
async def remote() -> AsyncIterator[LoopbackThread]:
    async with LoopbackThread() as running:
        point_discord_py_at(running.server.api_base, running.server.gateway_url)
        yield running
    assert running.server.violations == []


async def test_a_bot_on_another_loop_is_served(remote: LoopbackThread) -> None:
    server = remote.server
    assert server.loop is not None and server.loop is not asyncio.get_running_loop()
    client = discord.Client(intents=discord.Intents.none())
    tree = app_commands.CommandTree(client)

    @tree.command(name="ping", description="Pong")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong")

    task = asyncio.create_task(client.start(server.token))
    try:
        await remote.call(server.wait_until_ready())
        await tree.sync()
        user = server.add_user("zoe")
        record = await remote.call(server.slash("ping", user=user))
        reply = await remote.call(server.wait_original(record, lambda m: True))
        assert reply.content == "pong"
    finally:
        await client.close()
        await asyncio.wait_for(task, 10)


def _listen_overflows() -> int:
    """The kernel's count of connections dropped because a listen queue was full."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=True))
            return int(table["ListenOverflows"])
    raise LookupError("no TcpExt in /proc/net/netstat")


async def _get(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /api/v10/gateway HTTP/1.1\r\nHost: loopback\r\nConnection: close\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer.split(b"\r\n", 1)[0]


@pytest.mark.skipif(not Path("/proc/net/netstat").exists(), reason="needs Linux's netstat counters")
async def test_a_burst_of_500_connections_is_not_dropped(remote: LoopbackThread) -> None:
    port = int(remote.server.api_base.split(":")[2].split("/")[0])
    before = _listen_overflows()
    status_lines = await asyncio.gather(*(_get(port) for _ in range(BURST)))
    assert status_lines == [b"HTTP/1.1 200 OK"] * BURST
    assert _listen_overflows() == before
    assert remote.server.validated == remote.server.requests == BURST
