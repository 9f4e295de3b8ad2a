"""What the loopback answers is shaped as Discord's spec says: every 2xx body of a session that
logs in, syncs commands, answers slash commands and a button, follows up with a file, edits and
posts to a channel, validated against the spec's response schema of its route."""

from __future__ import annotations

import asyncio
import io

import discord
from discord import app_commands

from loopback import LoopbackDiscord


async def test_a_sample_of_responses_matches_the_spec(loopback: LoopbackDiscord) -> None:
    client = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.1)
    tree = app_commands.CommandTree(client)

    class Again(discord.ui.View):
        @discord.ui.button(label="Again", custom_id="again")
        async def again(
            self, interaction: discord.Interaction, _: discord.ui.Button[Again]
        ) -> None:
            await interaction.response.edit_message(content="again")

    @tree.command(name="paint", description="Paint")
    async def paint(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send("done", file=discord.File(io.BytesIO(b"png"), "a.png"))
        await interaction.edit_original_response(content="painted", view=Again())
        await interaction.original_response()
        assert interaction.channel is not None
        sent = await interaction.channel.send("posted")  # type: ignore[union-attr]
        await sent.edit(content="edited")
        await sent.delete()

    task = asyncio.create_task(client.start(loopback.token))
    try:
        await loopback.wait_until_ready()
        await tree.sync(guild=discord.Object(loopback.guild.id))
        await tree.sync()
        user = loopback.add_user("una")
        record = await loopback.slash("paint", user=user)
        message = await loopback.wait_original(record, lambda m: bool(m.components))
        await loopback.wait_for(
            lambda: any(s.kind == "delete_channel" for s in loopback.transcript)
        )
        click = await loopback.click(message, "again", user=user)
        await loopback.wait_response(click)
    finally:
        await client.close()
        await asyncio.wait_for(task, 10)

    spec = loopback.contract.spec
    checked: set[str] = set()
    for sent in loopback.transcript:
        if not 200 <= sent.status < 300 or sent.response is None:
            continue
        operation = spec.operation(sent.method, sent.path.removeprefix("/api/v10"))
        assert operation is not None
        breaches = spec.check_response(operation, sent.status, sent.response)
        assert breaches == [], f"{operation.operation_id}: {[b.text() for b in breaches]}"
        if spec.response_pointer(operation, sent.status):
            checked.add(operation.operation_id)
    assert {
        "get_my_user",
        "bulk_set_guild_application_commands",
        "bulk_set_application_commands",
        "execute_webhook",
        "update_original_webhook_message",
        "get_original_webhook_message",
        "create_message",
        "update_message",
    } <= checked
