"""Start-up wiring, the one place: settings → engine → queue → studio → client, and the orderly
shutdown. The demo, the tests and production all build the bot here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from bot.config import STUDIO_SETTINGS, Settings
from bot.endpoints import apply_discord_config
from generation.catalog import Catalog
from generation.engine_api import ImageEngine
from generation.queue import check_images_folder, check_state_file
from generation.queue.factory import open_queue
from prompting import load_library
from safety import ImageChecker, ModerationRecord, PromptFilter
from studio import Planner, Studio, StudioOptions
from studio.deliveries import DeliveryRecord
from studio.guild_settings import GuildSettingsStore
from studio.history import HistoryIndex
from studio.preferences import PreferenceStore
from studio.quotas import UsageLedger
from studio.screening import Screener

if TYPE_CHECKING:
    from generation.engine import DiffusersEngine

log = logging.getLogger(__name__)


def build_engine(settings: Settings) -> DiffusersEngine:
    """The in-process diffusers engine (heavy imports happen here, not at import time)."""
    from generation.engine import DiffusersEngine
    from generation.loading import PipelineLoader

    return DiffusersEngine(
        PipelineLoader(settings.engine),
        settings.engine,
        preview_every=settings.discord.preview_every,
    )


def build_planner(settings: Settings) -> Planner:
    """The planning ``/imagine`` and ``muralist imagine`` share (token counts with each model's
    own tokenizer, read from its files: this process may never load the model)."""
    from generation.tokenizer_shelf import TokenizerShelf

    return Planner(
        Catalog.load(settings.engine.models_file),
        load_library(settings.prompting.presets_file),
        engine=settings.engine,
        prompting=settings.prompting,
        options=StudioOptions(
            **settings.discord.model_dump(include=STUDIO_SETTINGS),
            models_here=not settings.queue.redis_url,
        ),
        tokenizers=TokenizerShelf(settings.engine.cache_dir).for_model,
    )


@asynccontextmanager
async def open_studio(
    settings: Settings,
    engine: ImageEngine | None = None,
    *,
    image_checker: ImageChecker | None = None,
) -> AsyncIterator[Studio]:
    """Studio on the configured SQLite file: jobs run on ``engine`` in this process, or on
    ``muralist worker`` processes when ``queue.redis_url`` is set. ``image_checker``: tests
    pass one with a stand-in detector."""
    config = settings.queue
    # Storage first, before an engine loads or any table is opened: a refused state file stays
    # as it was, and a read-only or full disk is named at start-up.
    check_state_file(config.db_path)
    check_images_folder(config.images_dir)
    if engine is None and not config.redis_url:
        built = build_engine(settings)
        # The default model loaded (and compiled, with compile_unet) before the first member
        # waits for it; the loaded heap is then frozen out of the garbage collector's passes.
        await asyncio.to_thread(built.warm_up)
        engine = built
    async with AsyncExitStack() as stack:
        # The job store opens the file first; studio's table then adopts what an older job
        # store kept of deliveries (its old columns stay in place).
        queue = open_queue(config, engine)
        stack.callback(queue.store.close)
        deliveries = DeliveryRecord(config.db_path)
        stack.callback(deliveries.close)
        record = ModerationRecord(config.db_path, reports_to_hide=settings.safety.reports_to_hide)
        stack.callback(record.close)
        planner = build_planner(settings)
        guilds = GuildSettingsStore(
            config.db_path, planner.catalog.names, record, known_loras=planner.catalog.lora_names
        )
        stack.callback(guilds.close)
        history = HistoryIndex(config.db_path)
        stack.callback(history.close)
        preferences = PreferenceStore(config.db_path)
        stack.callback(preferences.close)
        usage = UsageLedger(config.db_path)
        stack.callback(usage.close)
        prompt_filter = PromptFilter(settings.safety)
        screener = Screener(
            prompt_filter, image_checker or ImageChecker(settings.safety), record, settings.safety
        )
        studio = Studio(
            queue=queue,
            planner=planner,
            guilds=guilds,
            record=record,
            deliveries=deliveries,
            prompt_filter=prompt_filter,
            screener=screener,
            history=history,
            preferences=preferences,
            usage=usage,
        )
        await asyncio.to_thread(studio.warm_up)
        await queue.start()
        stack.push_async_callback(queue.close)
        yield studio


async def run_bot(settings: Settings) -> None:
    """``muralist bot``: connect to Discord (or the configured endpoints) until stopped."""
    from bot.client import MuralistBot

    token = settings.discord.token
    assert token is not None, "checked by the CLI"
    apply_discord_config(settings.discord)
    async with open_studio(settings) as studio:
        bot = MuralistBot(studio, settings.discord)
        async with bot:
            await bot.start(token.get_secret_value())
