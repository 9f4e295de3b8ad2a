"""/settings: validated, stored, effective at once, admin-only even when Discord would let others
see it, and still there after a restart; the store on real SQLite underneath."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import discord
import pytest

from bot.cogs.settings import settings_embed
from bot.config import Settings
from bot.guild_settings import (
    _MIGRATIONS,
    GuildSettings,
    GuildSettingsStore,
    InvalidSetting,
    SettingsStoreError,
)
from generation.engine_api import ImageEngine
from loopback import LoopbackDiscord
from loopback.fixtures import ADMIN_PERMISSIONS
from safety import GuildTerm, ModerationRecord
from tests.bot.community.helpers import (
    CommunityBot,
    answer,
    community_bot,
    imagine,
    is_result,
    say,
    text_of,
)


def _store(path: Path) -> GuildSettingsStore:
    return GuildSettingsStore(path, lambda: ["tiny", "tiny-xl"], ModerationRecord(path))


def test_store_validates_names_the_setting_and_keeps_nothing_half_written(tmp_path: Path) -> None:
    store = _store(tmp_path / "state.db")
    with pytest.raises(InvalidSetting) as limit:
        store.set_many(1, 9, {"default_steps": 12, "per_user_cap": 0})
    assert limit.value.field == "per_user_cap" and "1..100" in limit.value.message
    assert store.get(1).default_steps is None  # the valid half was not stored either

    with pytest.raises(InvalidSetting) as model:
        store.set(1, 9, "default_model", "sd-ultra")
    assert model.value.field == "default_model" and "tiny, tiny-xl" in model.value.message
    with pytest.raises(InvalidSetting) as regex:
        store.add_term(1, 9, "(a+)+$", is_regex=True)
    assert regex.value.field == "terms" and "nests a repeat" in regex.value.message
    with pytest.raises(InvalidSetting) as broken:
        store.add_term(1, 9, "(unclosed", is_regex=True)
    assert "invalid pattern" in broken.value.message
    with pytest.raises(InvalidSetting) as aspect:
        store.set(1, 9, "default_aspect", "5:1")
    assert aspect.value.field == "default_aspect" and "16:9" in aspect.value.message
    with pytest.raises(InvalidSetting):
        store.set(1, 9, "cooldown_seconds", 4000)

    store.set_allowed_models(1, 9, ["tiny"])
    with pytest.raises(InvalidSetting) as outside:
        store.set(1, 9, "default_model", "tiny-xl")
    assert "not among the allowed models" in outside.value.message
    assert [c.setting for c in store.history(1)] == ["allowed_models"]  # refusals: no trace


def test_store_survives_reopening_and_keeps_history(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = _store(path)
    store.set_many(7, 100, {"default_steps": 12, "cooldown_seconds": 2.5})
    store.add_term(7, 100, "Spoilers")
    store.add_term(7, 101, r"\bep(isode)? ?\d+\b", is_regex=True)
    store.set_channel_nsfw(7, 100, 555, "blur_spoiler")
    store.add_exemption(7, 100, "gore")
    store.close()

    again = _store(path)
    settings = again.get(7)
    assert (settings.default_steps, settings.cooldown_seconds) == (12, 2.5)
    assert [t.text for t in settings.terms] == ["spoilers", r"\bep(isode)? ?\d+\b"]
    assert settings.policy_for(555) == "blur_spoiler" and settings.policy_for(1) == "withhold"
    assert settings.safety_for(555).sfw_action == "blur_spoiler"
    assert settings.exemptions == ("gore",)
    assert again.get(8).default_steps is None  # other guilds untouched
    history = again.history(7)
    assert [c.setting for c in history][-2:] == ["cooldown_seconds", "default_steps"]
    assert history[-1].actor_id == 100 and history[-1].old is None and history[-1].new == 12
    again.remove_term(7, 100, "SPOILERS")  # as typed, matched after normalising
    assert [t.text for t in again.get(7).terms] == [r"\bep(isode)? ?\d+\b"]
    with pytest.raises(InvalidSetting):
        again.remove_term(7, 100, "never-listed")


def test_changes_kept_by_schema_1_move_into_the_moderation_record(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old = sqlite3.connect(path)
    old.executescript(_MIGRATIONS[1])
    old.execute("CREATE TABLE bot_meta (key TEXT PRIMARY KEY, value TEXT)")
    old.execute("INSERT INTO bot_meta VALUES ('schema_version', '1')")
    old.executemany(
        "INSERT INTO bot_setting_changes (at, guild_id, actor_id, setting, old, new)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (1_700_000_000.0, 7, 100, "default_steps", "null", "12"),
            (1_700_000_060.0, 7, 101, "nsfw_policy", '"withhold"', '"allow"'),
        ],
    )
    old.commit()
    old.close()

    store = _store(path)
    history = store.history(7)
    assert [(c.setting, c.actor_id, c.old, c.new) for c in history] == [
        ("nsfw_policy", 101, "withhold", "allow"),
        ("default_steps", 100, None, 12),
    ]
    assert [c.at for c in history] == [1_700_000_060.0, 1_700_000_000.0]
    entry = ModerationRecord(path).recent(7, 1)[0]
    assert (entry.kind, entry.reason) == ("setting", "`nsfw_policy`: `withhold` → `allow`")
    store.close()
    again = _store(path)  # reopening copies nothing twice
    assert len(again.history(7)) == 2
    tables = sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall()
    assert ("bot_setting_changes",) not in tables and ("bot_result_messages",) not in tables
    again.close()

    latest = max(_MIGRATIONS)
    newer = sqlite3.connect(path)
    newer.execute(f"UPDATE bot_meta SET value = '{latest + 1}' WHERE key = 'schema_version'")
    newer.commit()
    with pytest.raises(
        SettingsStoreError, match=f"schema {latest + 1}, newer than this Muralist's {latest}"
    ):
        _store(path)


async def test_admin_changes_settings_and_errors_name_the_setting(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    admin = loopback.add_user("admin", permissions=ADMIN_PERMISSIONS)
    done = await say(loopback, "settings limits", {"per_user": 1, "cooldown": 0}, user=admin)
    assert done.ephemeral and done.content.startswith("✅ Limits set")

    too_many = await say(loopback, "settings limits", {"per_user": 0}, user=admin)
    assert too_many.ephemeral and "`per_user_cap`" in too_many.content
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
    request = cbot.community.queue_service.queue.get(job_id).request
    assert (request.steps, request.guidance) == (3, 4.5)
    blocked = await answer(loopback, await imagine(loopback, member, prompt="a red Lighthouse"))
    assert (
        blocked.ephemeral and "not allowed" in blocked.content and "lighthouse" in blocked.content
    )
    entry = cbot.community.record.recent(loopback.guild.id, 1)[0]
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
    assert cbot.community.guilds.get(loopback.guild.id).per_user_cap is None
    assert cbot.community.guilds.history(loopback.guild.id) == []


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
    other = next(m for m in cbot.community.queue_service.catalog.names() if m != "tiny")
    refused = await answer(loopback, await imagine(loopback, member, model=other))
    assert "`model`" in refused.content and "not allowed here" in refused.content

    art = loopback.channel("art")
    await say(loopback, "settings nsfw", {"policy": "blur_spoiler", "channel": art}, user=admin)
    inherit = await say(loopback, "settings nsfw", {"policy": "inherit"}, user=admin)
    assert "`nsfw_policy`" in inherit.content and "needs a channel" in inherit.content
    settings = cbot.community.guilds.get(loopback.guild.id)
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


async def test_guild_limits_reach_the_queue(loopback: LoopbackDiscord, cbot: CommunityBot) -> None:
    admin = loopback.add_user("admin", permissions=ADMIN_PERMISSIONS)
    member = loopback.add_user("member")
    await say(loopback, "settings limits", {"per_user": 1, "cooldown": 0}, user=admin)
    cbot.engine.gate.clear()
    await imagine(loopback, member, prompt="a first boat")
    queue = cbot.community.queue_service.queue
    await loopback.wait_for(lambda: queue.backend.free_slots("tiny") == 0)
    second = await answer(loopback, await imagine(loopback, member, prompt="a second boat"))
    assert second.ephemeral and "(the limit is 1)" in second.content
    cbot.engine.gate.set()

    await say(loopback, "settings limits", {"cooldown": 600}, user=admin)
    slow = await answer(loopback, await imagine(loopback, member, prompt="a third boat"))
    assert "one request every 600 s" in slow.content
    await say(loopback, "settings reset", {"setting": "cooldown_seconds"}, user=admin)
    assert cbot.community.guilds.get(loopback.guild.id).cooldown_seconds is None


async def test_an_error_quoting_a_long_list_still_reaches_the_admin(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    admin = loopback.add_user("admin", permissions=ADMIN_PERMISSIONS)
    for number in range(30):  # 30 listed terms of 95 characters: over 2800 in all
        cbot.community.guilds.add_term(
            loopback.guild.id, admin.id, f"term {number:02d} " + "x" * 87
        )
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
    )
    embed = settings_embed(full, [f"model-{n:03d}" for n in range(200)])
    assert len(embed) <= 6000  # Discord refuses a longer embed, and /settings view with it
    assert "`term 000 " in _field_values(embed) and "/settings terms" in _field_values(embed)


def _field_values(embed: discord.Embed) -> str:
    return "\n".join(field.value or "" for field in embed.fields)
