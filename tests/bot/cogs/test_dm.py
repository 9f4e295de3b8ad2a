"""Where commands run: each declares its contexts and install types; synced globally, as in
production, /help, /styles and /info work in a DM with the bot and the guild commands are not
offered there."""

from __future__ import annotations

import pytest

from bot.config import Settings
from generation.engine_api import ImageEngine
from loopback import LoopbackDiscord, LoopbackError
from tests.bot.cogs.helpers import CommunityBot, community_bot

GUILD, BOT_DM = 0, 1
GUILD_INSTALL = 0


async def test_every_command_declares_contexts_and_install_types(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    for command in loopback.commands():
        assert command["integration_types"] == [GUILD_INSTALL], command["name"]
        assert GUILD in command["contexts"], command["name"]
    in_dms = {c["name"] for c in loopback.commands() if BOT_DM in c["contexts"]}
    assert in_dms == {"help", "styles", "info"}


async def test_global_sync_and_commands_in_a_dm(
    loopback: LoopbackDiscord, settings: Settings, engine: ImageEngine
) -> None:
    async with community_bot(loopback, settings, engine, globally=True):
        assert loopback.guild_commands == {} and loopback.global_commands
        offered = {c["name"] for c in loopback.commands(in_dm=True)}
        assert offered == {"help", "styles", "info"}
        alice = loopback.add_user("alice")
        dm = loopback.dm(alice)
        for name in ("help", "styles", "info"):
            record = await loopback.slash(name, user=alice, in_dm=True)
            reply = await loopback.wait_original(record, lambda m: bool(m.embeds))
            assert reply.channel_id == dm.id and reply.ephemeral
        with pytest.raises(LoopbackError, match="in a DM"):
            await loopback.slash("imagine", {"prompt": "a fox"}, user=alice, in_dm=True)
        # In the guild the global commands are all there.
        record = await loopback.slash("help", user=alice)
        await loopback.wait_original(record, lambda m: bool(m.embeds))
