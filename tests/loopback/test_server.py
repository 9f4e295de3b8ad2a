"""The loopback Discord against a plain discord.py client: login, commands, interactions, limits."""

from __future__ import annotations

import asyncio

import discord
import pytest
from discord import app_commands

from loopback import LoopbackDiscord
from tests.loopback.conftest import PlainClient


async def test_login_ready_and_guild(loopback: LoopbackDiscord, client: PlainClient) -> None:
    assert client.user is not None and client.user.id == loopback.bot_user.id
    guild = client.get_guild(loopback.guild.id)
    assert guild is not None
    by_name = {c.name: c for c in guild.text_channels}
    assert by_name["after-dark"].is_nsfw() and not by_name["art"].is_nsfw()
    assert any(r.permissions.manage_messages for r in guild.roles)


async def test_slash_defer_and_followup_with_file(
    loopback: LoopbackDiscord, client: PlainClient
) -> None:
    @client.tree.command(name="paint", description="Paint something")
    @app_commands.describe(subject="What to paint", count="How many")
    async def paint(
        interaction: discord.Interaction, subject: str, count: app_commands.Range[int, 1, 4] = 1
    ) -> None:
        await interaction.response.defer(thinking=True)
        data = f"{subject}:{count}:{interaction.filesize_limit}".encode()
        await interaction.followup.send(
            "done", file=discord.File(__import__("io").BytesIO(data), "a.txt")
        )
        await interaction.edit_original_response(content=f"painted {subject}")

    client.tree.copy_global_to(guild=discord.Object(loopback.guild.id))
    await client.tree.sync(guild=discord.Object(loopback.guild.id))
    assert loopback.command("paint")["options"][1]["max_value"] == 4
    alice = loopback.add_user("alice")
    record = await loopback.slash("paint", {"subject": "a fox", "count": 3}, user=alice)
    original = await loopback.wait_original(record, lambda m: m.content.startswith("painted"))
    assert original.content == "painted a fox"
    assert record.response_type == 5
    # The first follow-up replaced the "thinking…" message, as on Discord; the edit kept its file.
    assert loopback.followups(record) == [] and not original.loading
    assert original.attachments[0].data == f"a fox:3:{loopback.attachment_size_limit}".encode()


async def test_button_modal_and_autocomplete(
    loopback: LoopbackDiscord, client: PlainClient
) -> None:
    class Ask(discord.ui.Modal, title="Edit"):
        text: discord.ui.TextInput[Ask] = discord.ui.TextInput(label="Prompt", custom_id="p")

        async def on_submit(self, interaction: discord.Interaction) -> None:
            await interaction.response.send_message(f"got {self.text.value}")

    class Buttons(discord.ui.View):
        @discord.ui.button(label="Edit", custom_id="edit")
        async def edit(
            self, interaction: discord.Interaction, _: discord.ui.Button[Buttons]
        ) -> None:
            await interaction.response.send_modal(Ask())

    async def fruit_names(_: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=f, value=f)
            for f in ("apple", "avocado")
            if f.startswith(current)
        ]

    @client.tree.command(name="menu", description="Buttons")
    @app_commands.autocomplete(fruit=fruit_names)
    async def menu(interaction: discord.Interaction, fruit: str) -> None:
        await interaction.response.send_message(fruit, view=Buttons())

    await client.tree.sync()
    bob = loopback.add_user("bob")
    assert [
        c["value"] for c in await loopback.autocomplete("menu", {"fruit": "av"}, "fruit", user=bob)
    ] == ["avocado"]
    record = await loopback.slash("menu", {"fruit": "apple"}, user=bob)
    message = await loopback.wait_original(record, lambda m: bool(m.components))
    click = await loopback.click(message, "edit", user=bob)
    submitted = await loopback.submit_modal(click, {"p": "a pear"})
    reply = await loopback.wait_original(submitted, lambda m: True)
    assert reply.content == "got a pear"


async def test_gateway_drop_resumes_and_delivers(
    loopback: LoopbackDiscord, client: PlainClient
) -> None:
    seen: list[int] = []

    @client.tree.command(name="ping", description="Pong")
    async def ping(interaction: discord.Interaction) -> None:
        seen.append(interaction.id)
        await interaction.response.send_message("pong")

    await client.tree.sync()
    await loopback.drop_connection()
    record = await loopback.slash("ping", user=loopback.add_user("carol"))  # buffered, replayed
    await asyncio.wait_for(client.resumed.wait(), 30)
    await loopback.wait_original(record, lambda m: m.content == "pong")
    assert loopback.resumes == 1 and loopback.identifies == 1
    assert seen == [record.id]


async def test_limits_are_enforced(loopback: LoopbackDiscord, client: PlainClient) -> None:
    @client.tree.command(name="loud", description="Too much")
    async def loud(interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_message("x" * 2001)
        except discord.HTTPException as exc:
            await interaction.response.send_message(f"refused {exc.status} {exc.code}")

    @client.tree.command(name="slow", description="Too late")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(loopback.ack_deadline + 0.3)
        try:
            await interaction.response.defer()
        except discord.NotFound as exc:
            seen_codes.append(exc.code)

    seen_codes: list[int] = []
    await client.tree.sync()
    user = loopback.add_user("dave")
    record = await loopback.slash("loud", user=user)
    reply = await loopback.wait_original(record, lambda m: True)
    assert reply.content == "refused 400 50035"
    loopback.ack_deadline = 0.2
    await loopback.slash("slow", user=user)
    await loopback.wait_for(lambda: seen_codes == [10062])
    assert any("content: at most 2000" in v for v in loopback.violations)
    assert any("no response within" in v for v in loopback.violations)
    loopback.violations.clear()


async def test_bad_command_tree_and_expired_token(
    loopback: LoopbackDiscord, client: PlainClient
) -> None:
    group = app_commands.Group(name="many", description="Too many options")
    client.tree.add_command(group)
    # 26 choices: discord.py does not check them, Discord does.
    choices = [app_commands.Choice(name=f"c{i}", value=i) for i in range(26)]

    @client.tree.command(name="pick", description="d")
    @app_commands.choices(which=choices)
    async def pick(interaction: discord.Interaction, which: int) -> None:
        await interaction.response.send_message("ok")

    with pytest.raises(discord.HTTPException) as caught:
        await client.tree.sync()
    assert caught.value.code == 50035
    assert any("choices: at most 25 items, got 26" in v for v in loopback.violations)
    client.tree.remove_command("pick")
    client.tree.remove_command("many")
    loopback.violations.clear()

    done = asyncio.Event()

    @client.tree.command(name="late", description="Follows up too late")
    async def late(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        loopback.expire_token(loopback.interactions[interaction.id])
        try:
            await interaction.followup.send("too late")
        except discord.HTTPException as exc:
            codes.append((exc.status, exc.code))
        done.set()

    codes: list[tuple[int, int]] = []
    await client.tree.sync()
    await loopback.slash("late", user=loopback.add_user("erin"))
    await asyncio.wait_for(done.wait(), 10)
    assert codes == [(401, 50027)]
    assert any("used after it expired" in v for v in loopback.violations)
    loopback.violations.clear()


async def test_component_updates_and_channel_messages(
    loopback: LoopbackDiscord, client: PlainClient
) -> None:
    class Counter(discord.ui.View):
        @discord.ui.button(label="+1", custom_id="plus")
        async def plus(
            self, interaction: discord.Interaction, _: discord.ui.Button[Counter]
        ) -> None:
            await interaction.response.edit_message(content="1")  # type 7

        @discord.ui.button(label="later", custom_id="later")
        async def later(
            self, interaction: discord.Interaction, _: discord.ui.Button[Counter]
        ) -> None:
            await interaction.response.defer()  # type 6, then edit through the token
            await interaction.edit_original_response(content="edited later", view=None)
            assert interaction.channel is not None
            sent = await interaction.channel.send("in the channel")  # type: ignore[union-attr]
            await sent.edit(content="edited in the channel")
            await sent.delete()

    @client.tree.command(name="count", description="A counter")
    async def count(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("0", view=Counter())

    await client.tree.sync()
    user = loopback.add_user("fay")
    record = await loopback.slash("count", user=user)
    message = await loopback.wait_original(record, lambda m: bool(m.components))
    await loopback.click(message, "plus", user=user)
    await loopback.wait_for(lambda: message.content == "1")
    later = await loopback.click(message, "later", user=user)
    await loopback.wait_for(lambda: message.content == "edited later")
    assert later.response_type == 6 and message.components == []
    await loopback.wait_for(lambda: any(s.kind == "delete_channel" for s in loopback.transcript))
    [channel_message] = [m for m in loopback.messages.values() if m.interaction_id is None]
    assert channel_message.deleted and channel_message.content == "edited in the channel"


async def test_components_v2_message_from_discord_py_is_accepted(
    loopback: LoopbackDiscord, client: PlainClient
) -> None:
    class Card(discord.ui.LayoutView):
        container: discord.ui.Container[Card] = discord.ui.Container(
            discord.ui.TextDisplay("## A lighthouse"),
            discord.ui.Separator(),
            discord.ui.ActionRow(discord.ui.Button(label="Again", custom_id="again")),
            accent_colour=discord.Colour.blurple(),
        )

    @client.tree.command(name="card", description="A components v2 message")
    async def card(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(view=Card())

    await client.tree.sync()
    record = await loopback.slash("card", user=loopback.add_user("gus"))
    message = await loopback.wait_original(record, lambda m: bool(m.components))
    assert message.flags & (1 << 15)  # IS_COMPONENTS_V2, set by discord.py
    assert message.components[0]["type"] == 17 and not message.content


async def test_an_enforced_nonce_returns_the_first_message_and_history_lists_the_channel(
    loopback: LoopbackDiscord, client: PlainClient
) -> None:
    channel = client.get_channel(loopback.channel("art").id)
    assert isinstance(channel, discord.TextChannel)
    quiet = discord.AllowedMentions.none()
    first = await channel.send("once", nonce="job-1", allowed_mentions=quiet)
    again = await channel.send("once more", nonce="job-1", allowed_mentions=quiet)
    other = await channel.send("another", nonce="job-2", allowed_mentions=quiet)
    # Discord: "If another message was created by the same author with the same nonce, that
    # message will be returned and no new message will be created."
    assert again.id == first.id and other.id != first.id
    assert [m.content for m in loopback.channel_messages("art")] == ["once", "another"]
    loopback.nonce_window = 0.0  # "in the past few minutes": past that, a new message
    later = await channel.send("later", nonce="job-1", allowed_mentions=quiet)
    assert later.id != first.id
    history = [m.content async for m in channel.history(limit=2)]
    assert history == ["later", "another"]  # newest first, at most `limit`
