"""``muralist bot`` (run the bot) and ``muralist demo`` (the bot against a loopback Discord)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
from pathlib import Path
from typing import Any

from bot.config import Settings, SettingsError


def register(subparsers: Any) -> None:
    run = subparsers.add_parser(
        "bot",
        help="run the Discord bot (token from MURALIST_DISCORD__TOKEN)",
        description="Connects to discord.api_base / discord.gateway_url (Discord by default) "
        "and runs until interrupted. Commands sync to discord.sync_guild_id when set "
        "(instant, for development), else globally.",
    )
    run.set_defaults(handler=run_command)

    demo = subparsers.add_parser(
        "demo",
        help="run the bot against a local loopback Discord: one /imagine and one click",
        description="No token and no network: the built-in tiny model paints (noise-like "
        "pictures); the images and a transcript of what the bot sent go to --out.",
    )
    demo.add_argument("--out", type=Path, default=Path("out/demo"), help="folder to write")
    demo.add_argument("--prompt", default="a lighthouse on a cliff at dusk, oil painting")
    demo.add_argument("--button", default="U1", help="the button to click (default U1)")
    demo.add_argument("--steps", type=int, default=8, help="denoising steps (default 8)")
    demo.add_argument("--size", type=int, default=256, help="image side (default 256)")
    demo.set_defaults(handler=demo_command)


def _logging(settings: Settings) -> None:
    from bot.logs import setup

    setup(getattr(logging, settings.log_level))


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.wiring import run_bot

    if settings.discord.token is None:
        raise SettingsError(
            "discord.token: not set; export MURALIST_DISCORD__TOKEN with the bot's token"
        )
    _logging(settings)
    asyncio.run(run_bot(settings))
    return 0


def demo_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.demo import run_demo

    state = Path(tempfile.mkdtemp(prefix="muralist-demo-"))
    demo_settings = settings.model_copy(deep=True)
    demo_settings.discord.image_side = args.size
    demo_settings.discord.progress_edit_seconds = 1.0
    demo_settings.engine.default_steps = args.steps
    demo_settings.queue.db_path = state / "state.db"
    demo_settings.queue.images_dir = state / "images"
    result = asyncio.run(run_demo(demo_settings, args.out, prompt=args.prompt, button=args.button))
    for path in result.files:
        print(f"wrote {path}")
    print(f"wrote {result.transcript}")
    if result.violations:
        print("the bot broke Discord's rules:\n" + "\n".join(result.violations))
        return 1
    if not result.contract_held:
        print(
            f"only {result.validated} of {result.requests} requests were checked against "
            "Discord's contract: no claim made"
        )
        return 1
    print(f"{result.validated} of {result.requests} requests validated against Discord's API")
    print("no breach of Discord's contract recorded")
    return 0
