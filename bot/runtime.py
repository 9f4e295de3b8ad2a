"""Start-up wiring: settings → engine → queue → service → client, and the orderly shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.config import Settings
from bot.endpoints import apply_discord_config
from generation.engine_api import ImageEngine
from generation.queue.factory import open_queue
from generation.studio import Studio, StudioOptions
from safety import ModerationRecord

log = logging.getLogger(__name__)


def build_engine(settings: Settings) -> ImageEngine:
    """The in-process diffusers engine (heavy imports happen here, not at import time)."""
    from generation.engine import DiffusersEngine
    from generation.loading import PipelineLoader

    return DiffusersEngine(
        PipelineLoader(settings.engine),
        settings.engine,
        preview_every=settings.discord.preview_every,
    )


@asynccontextmanager
async def open_service(
    settings: Settings, engine: ImageEngine | None = None
) -> AsyncIterator[Studio]:
    """The queue on the configured SQLite file: jobs run on ``engine`` in this process, or on
    ``muralist worker`` processes when ``queue.redis_url`` is set."""
    config = settings.queue
    config.images_dir.mkdir(parents=True, exist_ok=True)
    if engine is None and not config.redis_url:
        engine = build_engine(settings)
    queue = open_queue(config, engine)
    record = ModerationRecord(config.db_path, reports_to_hide=settings.safety.reports_to_hide)
    service = Studio(
        queue,
        record,
        engine=settings.engine,
        prompting=settings.prompting,
        safety=settings.safety,
        options=StudioOptions(
            image_side=settings.discord.image_side, default_count=settings.discord.default_count
        ),
    )
    await asyncio.to_thread(service.warm_up)
    await queue.start()
    try:
        yield service
    finally:
        await queue.close()
        queue.store.close()
        record.close()


async def run_bot(settings: Settings) -> None:
    """``muralist bot``: connect to Discord (or the configured endpoints) until stopped."""
    from bot.client import MuralistBot

    token = settings.discord.token
    assert token is not None, "checked by the CLI"
    from bot.community import build_community

    apply_discord_config(settings.discord)
    async with open_service(settings) as service:
        community = build_community(settings, service)
        bot = MuralistBot(community.service, settings.discord, community=community)
        try:
            async with bot:
                await bot.start(token.get_secret_value())
        finally:
            community.close()
