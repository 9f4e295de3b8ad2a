"""/settings: validated, stored, effective at once, admin-only even when Discord would let others
see it, and still there after a restart; the store on real SQLite underneath."""

from __future__ import annotations

import discord

from bot.cogs.settings import settings_embed
from bot.config import Settings
from generation.engine_api import ImageEngine
from loopback import LoopbackDiscord
from loopback.fixtures import ADMIN_PERMISSIONS
from prompting import Preset
from safety import GuildTerm
from studio.guild_settings import GuildSettings
from tests.bot.cogs.helpers import (
    CommunityBot,
    answer,
    community_bot,
    imagine,
    is_result,
    say,
    text_of,
)


async def test_admin_changes_settings_and_errors_name_the_setting(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    admin = loopback.add_user("admin", permissions=ADMIN_PERMISSIONS)
    done = await say(loopback, "settings limits", {"per_user": 1, "cooldown": 0}, user=admin)
    assert done.ephemeral and done.content.startswith("✅ Limits set")

    # Out of the declared range: refused at the bot's boundary, naming the option as typed.
    too_many = await say(loopback, "settings limits", {"per_user": 0}, user=admin)
    assert too_many.ephemeral and "`per_user`" in too_many.content
    assert "1..100" in too_many.content
    unknown = await say(loopback, "settings defaults", {"model": "sd-ultra"}, user=admin)
    assert "`default_model`" in unknown.content and "tiny" in unknown.content
    bad_regex = await say(
        loopback, "settings term-add", {"term": "(x+)+y", "regex": True}, user=admin
    )
    assert "`terms`" in bad_regex.content and "exponential" in bad_regex.content

    await say(loopback, "settings defaults", {"steps": 3, "cfg": 4.5}, user=admin)
    await say(loopback, "settings term-add", {"term": "lighthouse"}, user=admin)
    await say(
        loopback, "settings log-channel", {"channel": loopback.channel("general")}, user=admin
    )
    view = text_of(await say(loopback, "settings view", user=admin))
    assert "steps: `3`" in view and "cfg: `4.5`" in view and "per user: `1`" in view
    assert "`lighthouse`" in view and f"<#{loopback.channel('general').id}>" in view
    history = text_of(await say(loopback, "settings history", user=admin))
    assert f"<@{admin.id}> `default_steps`" in history

    # Effective at once: the defaults reach the job, the cap and the term refuse.
    member = loopback.add_user("member")
    first = await imagine(loopback, member, prompt="a quiet harbour")
    result = await loopback.wait_original(first, is_result)
    job_id = result.embeds[0]["footer"]["text"].removeprefix("job ")
    request = cbot.studio.queue.get(job_id).request
    assert (request.steps, request.guidance) == (3, 4.5)
    blocked = await answer(loopback, await imagine(loopback, member, prompt="a red Lighthouse"))
    assert (
        blocked.ephemeral and "not allowed" in blocked.content and "lighthouse" in blocked.content
    )
    entry = cbot.studio.record.recent(loopback.guild.id, 1)[0]
    assert (entry.kind, entry.user_id) == ("blocked_prompt", member.id)
    logged = [m for m in loopback.channel_messages("general") if m.embeds]
    assert "Blocked prompt" in text_of(logged[-1]) and "a red Lighthouse" in text_of(logged[-1])


async def test_member_cannot_change_settings_even_if_discord_lets_them_see_it(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    # The loopback delivers the command whatever default_member_permissions says, as Discord
    # does for a guild that overrode the command's permissions in its integration settings.
    member = loopback.add_user("member")
    moderator = loopback.add_user("mod", moderator=True)
    for user in (member, moderator):
        refused = await say(loopback, "settings limits", {"per_user": 50}, user=user)
        assert refused.ephemeral and "manage_guild" in refused.content
        view = await say(loopback, "settings view", user=user)
        assert "manage_guild" in view.content
    assert cbot.studio.guilds.get(loopback.guild.id).per_user_cap is None
    assert cbot.studio.guilds.history(loopback.guild.id) == []


async def test_models_allowed_and_nsfw_policy(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    admin = loopback.add_user("admin", permissions=ADMIN_PERMISSIONS)
    member = loopback.add_user("member")
    ok = await say(loopback, "settings models", {"allowed": "tiny"}, user=admin)
    assert ok.content == "✅ Allowed models: tiny"
    wrong = await say(loopback, "settings models", {"allowed": "tiny, sd-ultra"}, user=admin)
    assert "`allowed_models`" in wrong.content
    choices = await loopback.autocomplete(
        "imagine", {"prompt": "x", "model": ""}, "model", user=member
    )
    assert [c["value"] for c in choices] == ["tiny"]
    other = next(m for m in cbot.studio.model_names() if m != "tiny")
    refused = await answer(loopback, await imagine(loopback, member, model=other))
    assert "`model`" in refused.content and "not allowed here" in refused.content

    art = loopback.channel("art")
    await say(loopback, "settings nsfw", {"policy": "blur_spoiler", "channel": art}, user=admin)
    inherit = await say(loopback, "settings nsfw", {"policy": "inherit"}, user=admin)
    assert "`nsfw_policy`" in inherit.content and "needs a channel" in inherit.content
    settings = cbot.studio.guilds.get(loopback.guild.id)
    assert settings.policy_for(art.id) == "blur_spoiler" and settings.nsfw_policy == "withhold"


async def test_settings_survive_a_restart(
    loopback: LoopbackDiscord, settings: Settings, engine: ImageEngine
) -> None:
    admin = loopback.add_user("admin", permissions=ADMIN_PERMISSIONS)
    async with community_bot(loopback, settings, engine):
        await say(loopback, "settings defaults", {"steps": 4, "aspect": "16:9"}, user=admin)
        await say(loopback, "settings term-add", {"term": "harbour"}, user=admin)
    async with community_bot(loopback, settings, engine):  # a new process would do this
        view = text_of(await say(loopback, "settings view", user=admin))
        assert "steps: `4`" in view and "aspect: `16:9`" in view and "`harbour`" in view
        refused = await answer(loopback, await imagine(loopback, admin, prompt="a harbour"))
        assert "not allowed" in refused.content


async def test_a_servers_own_presets_reach_imagine_autocomplete_and_styles(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    admin = loopback.add_user("admin", permissions=ADMIN_PERMISSIONS)
    member = loopback.add_user("member")
    preset = {"name": "harbour-glow", "positive": "glowing {prompt}, teal harbour lights",
              "negative": "grey", "description": "Teal night light", "steps": 3,
              "scheduler": "Euler a", "aspect": "16:9"}  # fmt: skip
    saved = await say(loopback, "settings preset-add", preset, user=admin)
    assert saved.ephemeral and saved.content.startswith("✅ Preset `harbour-glow` saved")
    bad = await say(
        loopback, "settings preset-add", {"name": "x", "positive": "no slot"}, user=admin
    )
    assert bad.ephemeral and "`positive`" in bad.content and "{prompt}" in bad.content
    assert "`harbour-glow`" in text_of(await say(loopback, "settings view", user=admin))

    offered = await loopback.autocomplete(
        "imagine", {"prompt": "a boat", "style": "harbour"}, "style", user=member
    )
    assert [choice["value"] for choice in offered] == ["harbour-glow"]
    assert "Teal night light" in text_of(await say(loopback, "styles", user=member))
    record = await imagine(loopback, member, prompt="a boat", style="harbour-glow")
    result = await loopback.wait_original(record, is_result)
    job_id = result.embeds[0]["footer"]["text"].removeprefix("job ")
    request = cbot.studio.queue.get(job_id).request
    assert request.prompt.startswith("glowing a boat") and "grey" in request.negative_prompt
    assert (request.steps, request.scheduler) == (3, "Euler a")  # the preset's own settings
    assert request.width > request.height

    removed = await say(loopback, "settings preset-remove", {"name": "harbour-glow"}, user=admin)
    assert removed.content.startswith("✅ Preset `harbour-glow` removed")
    gone = await answer(loopback, await imagine(loopback, member, style="harbour-glow"))
    assert gone.ephemeral and "`style`" in gone.content


async def test_guild_limits_reach_the_queue(loopback: LoopbackDiscord, cbot: CommunityBot) -> None:
    admin = loopback.add_user("admin", permissions=ADMIN_PERMISSIONS)
    member = loopback.add_user("member")
    await say(loopback, "settings limits", {"per_user": 1, "cooldown": 0}, user=admin)
    cbot.engine.gate.clear()
    await imagine(loopback, member, prompt="a first boat")
    queue = cbot.studio.queue
    await loopback.wait_for(lambda: queue.backend.free_slots("tiny") == 0)
    second = await answer(loopback, await imagine(loopback, member, prompt="a second boat"))
    assert second.ephemeral and "(the limit is 1)" in second.content
    cbot.engine.gate.set()

    await say(loopback, "settings limits", {"cooldown": 600}, user=admin)
    slow = await answer(loopback, await imagine(loopback, member, prompt="a third boat"))
    assert "one request every 600 s" in slow.content
    await say(loopback, "settings reset", {"setting": "cooldown_seconds"}, user=admin)
    assert cbot.studio.guilds.get(loopback.guild.id).cooldown_seconds is None


async def test_an_error_quoting_a_long_list_still_reaches_the_admin(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    admin = loopback.add_user("admin", permissions=ADMIN_PERMISSIONS)
    for number in range(30):  # 30 listed terms of 95 characters: over 2800 in all
        cbot.studio.guilds.add_term(loopback.guild.id, admin.id, f"term {number:02d} " + "x" * 87)
    missing = await say(loopback, "settings term-remove", {"term": "nothing"}, user=admin)
    assert missing.ephemeral and missing.content.startswith("❌ `terms`: 'nothing' is not listed")
    assert len(missing.content) <= 2000 and missing.content.endswith("…")


def test_settings_view_of_a_full_guild_fits_in_one_embed() -> None:
    channels = range(10**17, 10**17 + 60)
    full = GuildSettings(
        default_negative="blurry, " * 180,
        channel_nsfw=dict.fromkeys(channels, "blur_spoiler"),
        approval_channels=tuple(channels),
        terms=tuple(GuildTerm(text=f"term {n:03d} " + "x" * 80) for n in range(200)),
        exemptions=tuple(f"exempt {n:03d} " + "y" * 80 for n in range(200)),
        presets=tuple(
            Preset(name=f"preset-{n:02d}-" + "z" * 30, positive="{prompt}") for n in range(25)
        ),
    )
    embed = settings_embed(full, [f"model-{n:03d}" for n in range(200)])
    assert len(embed) <= 6000  # Discord refuses a longer embed, and /settings view with it
    assert "`term 000 " in _field_values(embed) and "/settings terms" in _field_values(embed)


def _field_values(embed: discord.Embed) -> str:
    return "\n".join(field.value or "" for field in embed.fields)
