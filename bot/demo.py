"""``muralist demo``: the whole bot on this machine, no token and no network.

Starts the loopback Discord and the real bot against it, scripts one ``/imagine`` and one button
click as a user would, and writes the pictures and a transcript of everything the bot sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from bot.client import MuralistBot
from bot.config import Settings
from bot.endpoints import point_discord_py_at
from bot.wiring import open_studio
from loopback import LoopbackDiscord, StoredMessage


@dataclass
class DemoResult:
    files: list[Path] = field(default_factory=list)
    transcript: Path | None = None
    violations: list[str] = field(default_factory=list)
    requests: int = 0  # REST requests the bot made
    validated: int = 0  # of them, checked against Discord's contract

    @property
    def contract_held(self) -> bool:
        """No breach recorded, and the validator ran on every request (so none went unchecked)."""
        return not self.violations and self.requests > 0 and self.validated == self.requests


def _settled(message: StoredMessage) -> bool:
    return bool(message.embeds) or message.content.startswith(("❌", "🚫", "⚠️"))


def _save(message: StoredMessage, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for attachment in message.attachments:
        path = folder / attachment.filename
        path.write_bytes(attachment.data)
        paths.append(path)
    return paths


async def run_demo(
    settings: Settings, out: Path, *, prompt: str, button: str = "U1", timeout: float = 600
) -> DemoResult:
    out.mkdir(parents=True, exist_ok=True)
    logging.getLogger("discord.client").setLevel(logging.ERROR)  # no voice-support warnings
    result = DemoResult()
    loopback = await LoopbackDiscord().start()
    try:
        point_discord_py_at(loopback.api_base, loopback.gateway_url)
        settings.discord.sync_guild_id = loopback.guild.id
        user = loopback.add_user("demo-user")
        async with open_studio(settings) as studio:
            bot = MuralistBot(studio, settings.discord, guild_ready_timeout=0.1)
            task = asyncio.create_task(bot.start(loopback.token))
            try:
                await loopback.wait_until_ready(timeout=120)
                print(f"loopback Discord at {loopback.api_base}; the bot is connected")
                record = await loopback.slash("imagine", {"prompt": prompt}, user=user)
                print(f"/imagine prompt:{prompt!r} → answered; painting…")
                grid = await loopback.wait_original(record, _settled, timeout)
                if not grid.embeds:
                    raise RuntimeError(f"/imagine failed: {grid.content}")
                result.files += _save(grid, out / "imagine")
                click = await loopback.click(grid, grid.button(button), user=user)
                print(f"clicked {button} → painting…")
                second = await loopback.wait_original(click, _settled, timeout)
                result.files += _save(second, out / button.lower())
                await bot.idle()
            finally:
                await bot.close()
                await asyncio.wait_for(task, 30)
        result.transcript = out / "transcript.json"
        result.transcript.write_text(
            json.dumps(loopback.transcript_json(), indent=2, ensure_ascii=False), encoding="utf-8"
        )
        result.violations = list(loopback.violations)
        result.requests, result.validated = loopback.requests, loopback.validated
    finally:
        await loopback.stop()
    return result
