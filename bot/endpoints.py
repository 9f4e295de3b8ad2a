"""Where discord.py connects: Discord itself, a rate-limit proxy, or the loopback Discord.

discord.py reads both addresses from class attributes, so they are set once per process, before
the client logs in.
"""

from __future__ import annotations

import discord
import yarl

from bot.config import DiscordConfig


def point_discord_py_at(api_base: str, gateway_url: str) -> None:
    """REST (with interaction callbacks and webhooks) and the gateway's first connection."""
    discord.http.Route.BASE = api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def apply_discord_config(config: DiscordConfig) -> None:
    point_discord_py_at(config.api_base, config.gateway_url)
