"""The bot under test: real client, service, queue and tiny engine against the loopback Discord."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from bot.client import MuralistBot
from bot.config import Settings
from bot.wiring import open_studio
from generation.engine_api import CancelCheck, ImageEngine, ProgressCallback
from generation.requests import GenerationRequest, GenerationResult
from loopback import LoopbackDiscord
from studio import Studio


def test_settings(tmp_path: Path, cache_dir: Path, **discord: Any) -> Settings:
    """Small and fast: 64×64, 2 steps, progress edits unthrottled."""
    discord_values: dict[str, Any] = {
        "image_side": 64,
        "progress_edit_seconds": 0.0,
        "preview_every": 1,
    }
    discord_values.update(discord)
    return Settings.model_validate(
        {
            "discord": discord_values,
            "engine": {"cache_dir": str(cache_dir), "device": "cpu", "default_steps": 2},
            "queue": {
                "db_path": str(tmp_path / "state.db"),
                "images_dir": str(tmp_path / "images"),
                "progress_interval_seconds": 0.0,
            },
        }
    )


class GatedEngine:
    """The real engine behind a gate, recording the order in which requests reach it."""

    def __init__(self, engine: ImageEngine) -> None:
        self.engine = engine
        self.gate = threading.Event()
        self.order: list[str] = []

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        on_progress: ProgressCallback | None = None,
        is_cancelled: CancelCheck | None = None,
    ) -> list[GenerationResult]:
        self.gate.wait(120)
        self.order += [r.request_id for r in requests]
        return self.engine.generate(requests, on_progress=on_progress, is_cancelled=is_cancelled)


class RunningBot:
    def __init__(self, bot: MuralistBot, studio: Studio, task: asyncio.Task[None]):
        self.bot = bot
        self.studio = studio
        self.task = task


@asynccontextmanager
async def running_bot(
    loopback: LoopbackDiscord, settings: Settings, engine: ImageEngine, *, finish: bool = True
) -> AsyncIterator[RunningBot]:
    """The bot logged in to the loopback Discord with its commands synced; on exit it lets
    the deliveries under way finish (``finish``) and closes."""
    settings.discord.sync_guild_id = loopback.guild.id
    loopback.quiet_mentions = True  # no message of the bot may ping @everyone or a role
    async with AsyncExitStack() as stack:
        studio = await stack.enter_async_context(open_studio(settings, engine))
        bot = MuralistBot(studio, settings.discord, guild_ready_timeout=0.1)
        synced = len(loopback.guild_commands.get(loopback.guild.id, []))
        ready = loopback.identifies
        task = asyncio.create_task(bot.start(loopback.token))
        await loopback.wait_for(
            lambda: (
                loopback.identifies > ready
                and bool(bot.synced or task.done())
                and len(loopback.guild_commands.get(loopback.guild.id, [])) >= max(synced, 1)
            )
        )
        if task.done():
            task.result()
        try:
            yield RunningBot(bot, studio, task)
        finally:
            if finish:  # else stop as a crash would: jobs under way are left behind
                await bot.idle()
            await bot.close()
            await asyncio.wait_for(task, 10)
