"""The bot with part 2 installed (guild settings, moderation, community commands) against the
loopback Discord, on the tiny engine, and helpers to act as its users."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bot.client import MuralistBot
from bot.config import Settings
from bot.wiring import open_studio
from generation.engine_api import CancelCheck, ImageEngine, ProgressCallback
from generation.requests import GenerationRequest, GenerationResult
from loopback import FakeUser, LoopbackDiscord, StoredMessage
from loopback.state import Interaction
from safety import ImageChecker
from studio import Studio
from tests.stand_ins import SwitchDetector


class GatedEngine:
    """The real engine behind a gate, so a test can keep jobs queued as long as it needs."""

    def __init__(self, engine: ImageEngine) -> None:
        self.engine = engine
        self.gate = threading.Event()
        self.gate.set()

    @property
    def device(self) -> str:
        return str(getattr(self.engine, "device", "local"))

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        on_progress: ProgressCallback | None = None,
        is_cancelled: CancelCheck | None = None,
    ) -> list[GenerationResult]:
        self.gate.wait(60)
        return self.engine.generate(requests, on_progress=on_progress, is_cancelled=is_cancelled)


@dataclass
class CommunityBot:
    bot: MuralistBot
    studio: Studio
    detector: SwitchDetector
    engine: GatedEngine


@asynccontextmanager
async def community_bot(
    loopback: LoopbackDiscord, settings: Settings, engine: ImageEngine, *, globally: bool = False
) -> AsyncIterator[CommunityBot]:
    """The bot as ``muralist bot`` builds it, logged in with its commands synced to the guild
    (or, ``globally``, as in production: global commands, the only ones DMs offer)."""
    settings.discord.sync_guild_id = None if globally else loopback.guild.id
    loopback.quiet_mentions = True  # no message of the bot may ping @everyone or a role
    detector = SwitchDetector()
    gated = GatedEngine(engine)
    async with AsyncExitStack() as stack:
        checker = ImageChecker(settings.safety, detector=detector)
        studio = await stack.enter_async_context(
            open_studio(settings, gated, image_checker=checker)
        )
        bot = MuralistBot(studio, settings.discord, guild_ready_timeout=0.1)
        ready = loopback.identifies
        task = asyncio.create_task(bot.start(loopback.token))
        await loopback.wait_for(
            lambda: loopback.identifies > ready and bool(bot.synced or task.done())
        )
        if task.done():
            task.result()
        try:
            yield CommunityBot(bot, studio, detector, gated)
        finally:
            gated.gate.set()
            await bot.idle()
            await bot.close()
            await asyncio.wait_for(task, 10)


# ------------------------------------------------------------------------------- helpers
async def answer(loopback: LoopbackDiscord, record: Interaction) -> StoredMessage:
    """The first visible answer to an interaction: its original response or first follow-up."""

    def done() -> bool:
        original = loopback.messages.get(record.original_id or 0)
        return bool(record.followup_ids) or (original is not None and not original.loading)

    await loopback.wait_for(done)
    if record.followup_ids:
        return loopback.followups(record)[0]
    return loopback.original(record)


def text_of(message: StoredMessage) -> str:
    """Content and embed text together, as a reader sees them."""
    parts = [message.content]
    for embed in message.embeds:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        for field in embed.get("fields") or []:
            parts += [field["name"], field["value"]]
        parts.append((embed.get("footer") or {}).get("text") or "")
    return "\n".join(parts)


async def say(
    loopback: LoopbackDiscord,
    command: str,
    options: dict[str, Any] | None = None,
    *,
    user: FakeUser,
    channel: str = "art",
) -> StoredMessage:
    record = await loopback.slash(command, options, user=user, channel=channel)
    return await answer(loopback, record)


def is_result(message: StoredMessage) -> bool:
    if message.content.startswith(("❌", "🚫", "⏳ Slow")):
        raise AssertionError(message.content)
    return bool(message.embeds) and bool(message.components)


async def imagine(
    loopback: LoopbackDiscord, user: FakeUser, channel: str = "art", **options: Any
) -> Interaction:
    values: dict[str, Any] = {"prompt": "a quiet harbour", "count": 1, "seed": 5}
    values.update(options)
    return await loopback.slash("imagine", values, user=user, channel=channel)


async def wait_channel(
    loopback: LoopbackDiscord, channel: str, predicate: Callable[[StoredMessage], bool]
) -> StoredMessage:
    found: list[StoredMessage] = []

    def done() -> bool:
        found[:] = [m for m in loopback.channel_messages(channel) if predicate(m)]
        return bool(found)

    await loopback.wait_for(done)
    return found[-1]
