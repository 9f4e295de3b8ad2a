"""Delivery that survives what Discord and hosts do: restarts, dropped gateways, expired tokens,
deleted channels, and the errors a user can cause."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import Settings
from generation.engine_api import ImageEngine
from generation.queue import JobStatus
from loopback import LoopbackDiscord, StoredMessage
from safety.config import SafetyConfig
from tests.bot.harness import GatedEngine, RunningBot, running_bot


def _done(message: StoredMessage) -> bool:
    if message.content.startswith("❌"):
        raise AssertionError(message.content)
    return bool(message.embeds) and bool(message.components)


async def test_button_works_after_restart(
    loopback: LoopbackDiscord, settings: Settings, engine: ImageEngine
) -> None:
    alice = loopback.add_user("alice")
    async with running_bot(loopback, settings, engine):
        record = await loopback.slash("imagine", {"prompt": "a harbour", "count": 1}, user=alice)
        result = await loopback.wait_original(record, _done)
    async with running_bot(loopback, settings, engine) as second:  # a new process would do this
        click = await loopback.click(result, result.button("Vary (subtle)"), user=alice)
        varied = await loopback.wait_original(click, _done)
        job_id = varied.embeds[0]["footer"]["text"].removeprefix("job ")
        job = second.studio.queue.get(job_id)
        assert job.origin.action == "vary_subtle"
        assert job.request.prompt == "a harbour"
    assert loopback.identifies == 2


async def test_gateway_drop_mid_job_resumes_and_delivers_once(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    bob = loopback.add_user("bob")
    first = await loopback.slash("imagine", {"prompt": "a storm", "count": 1}, user=bob)
    await loopback.wait_response(first)
    await loopback.drop_connection()
    # Sent while the bot is disconnected: Discord replays it on RESUME.
    second = await loopback.slash("imagine", {"prompt": "a calm sea", "count": 1}, user=bob)
    await loopback.wait_original(first, _done)
    await loopback.wait_original(second, _done)
    await bot.bot.idle()
    assert loopback.resumes == 1 and loopback.identifies == 1
    for record in (first, second):
        results = [
            s
            for s in loopback.transcript
            if s.interaction_id == record.id and (s.payload or {}).get("embeds")
        ]
        assert len(results) == 1


async def test_expired_token_posts_to_channel_with_mention(
    loopback: LoopbackDiscord, settings: Settings, engine: ImageEngine
) -> None:
    settings.discord.token_lifetime_seconds = 0.001
    loopback.token_lifetime = 0.001  # the bot must not touch the token again: a violation if so
    carol = loopback.add_user("carol")
    async with running_bot(loopback, settings, engine) as running:
        await loopback.slash("imagine", {"prompt": "a comet", "count": 1}, user=carol)
        await loopback.wait_for(lambda: bool(loopback.channel_messages("art")))
        await running.bot.idle()
    [posted] = loopback.channel_messages("art")
    assert posted.content.startswith(f"<@{carol.id}>") and posted.mentions == [carol.id]
    # The requester only: the post could not ping @everyone, @here or a role.
    assert not posted.may_ping_everyone_or_roles()
    assert posted.embeds and posted.attachments and posted.components


async def test_deleted_channel_and_missing_permission_are_recorded(
    loopback: LoopbackDiscord, settings: Settings, engine: ImageEngine
) -> None:
    settings.discord.token_lifetime_seconds = 0.001
    loopback.token_lifetime = 0.001
    dave = loopback.add_user("dave")
    async with running_bot(loopback, settings, engine) as running:
        loopback.deny_send("general")
        gone = await loopback.slash("imagine", {"prompt": "x", "count": 1}, user=dave)
        denied = await loopback.slash(
            "imagine", {"prompt": "y", "count": 1}, user=dave, channel="general"
        )
        loopback.delete_channel("art")
        studio = running.studio

        def problems() -> set[str]:
            jobs = studio.queue.store.by_status(*JobStatus)
            return {p for j in jobs if (p := studio.deliveries.notes(j.id).problem) is not None}

        await loopback.wait_for(lambda: len(problems()) == 2)
        await running.bot.idle()
        assert running.bot.is_ready() and not running.task.done()
        texts = problems()
    assert any("missing permission" in text for text in texts)
    assert any("no longer exists" in text for text in texts)
    assert gone.response_type == denied.response_type == 5


async def test_user_errors_are_short_ephemeral_messages(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    erin = loopback.add_user("erin")
    bad = await loopback.slash("imagine", {"prompt": "a cat", "scheduler": "Nope"}, user=erin)
    await loopback.wait_for(lambda: bool(bad.followup_ids))
    [reply] = loopback.followups(bad)
    assert reply.ephemeral and reply.content.startswith("❌ `scheduler`: unknown scheduler")
    assert loopback.original(bad).deleted  # no "thinking…" left behind

    sizes = await loopback.slash("imagine", {"prompt": "a cat", "aspect": "5:1"}, user=erin)
    await loopback.wait_for(lambda: bool(sizes.followup_ids))
    assert loopback.followups(sizes)[0].content.startswith("❌ `aspect`: unknown aspect")


async def test_autocomplete_offers_allowed_values(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    erin = loopback.add_user("erin")
    offered = await loopback.autocomplete(
        "imagine", {"prompt": "a cat", "scheduler": "karras"}, "scheduler", user=erin
    )
    names = [c["name"] for c in offered]
    assert names and all("karras" in n.lower() for n in names)
    aspects = await loopback.autocomplete(
        "imagine", {"prompt": "a", "aspect": ""}, "aspect", user=erin
    )
    assert "16:9" in [c["value"] for c in aspects]


async def test_prompt_blocked_by_channel_policy_and_lint_warnings_shown(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    hal = loopback.add_user("hal")
    blocked = await loopback.slash("imagine", {"prompt": "a nude figure"}, user=hal)
    await loopback.wait_for(lambda: bool(blocked.followup_ids))
    [reply] = loopback.followups(blocked)
    assert reply.ephemeral and reply.content.startswith("🚫")

    # Unbalanced brackets are repaired and reported while the job waits; the result replaces it.
    warned = await loopback.slash("imagine", {"prompt": "a (red fox", "count": 1}, user=hal)
    await loopback.wait_original(warned, _done)
    shown = [
        (s.payload or {}).get("content") or ""
        for s in loopback.transcript
        if s.interaction_id == warned.id and s.kind == "edit_original"
    ]
    assert any("⚠️" in text for text in shown)


async def test_style_autocomplete_lists_presets(loopback: LoopbackDiscord, bot: RunningBot) -> None:
    offered = await loopback.autocomplete(
        "imagine", {"prompt": "a", "style": "photo"}, "style", user=loopback.add_user("ivy")
    )
    assert {"cinematic-photo", "portrait-photo"} <= {c["value"] for c in offered}


async def test_banned_user_is_refused_with_reason_and_expiry(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    jay = loopback.add_user("jay")
    bot.studio.record.ban(
        loopback.guild.id,
        jay.id,
        by=loopback.owner.id,
        reason="spamming",
        duration=timedelta(hours=2),
    )
    refused = await loopback.slash("imagine", {"prompt": "a boat"}, user=jay)
    await loopback.wait_for(lambda: bool(refused.followup_ids))
    [reply] = loopback.followups(refused)
    assert reply.ephemeral and "banned" in reply.content and "spamming" in reply.content
    assert " until " in reply.content


class _FlagEverything:
    """A detector that sees exposed breasts everywhere (NudeNet sees nothing in noise)."""

    def detect(self, image: object) -> list[dict[str, object]]:
        return [{"class": "FEMALE_BREAST_EXPOSED", "score": 0.99, "box": [0, 0, 8, 8]}]


async def test_flagged_images_are_withheld_and_recorded_on_the_job(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    from safety import ImageChecker

    bot.studio.screener.image_checker = ImageChecker(SafetyConfig(), _FlagEverything())
    kim = loopback.add_user("kim")
    record = await loopback.slash("imagine", {"prompt": "a portrait", "count": 2}, user=kim)
    shown = await loopback.wait_original(record, lambda m: m.content.startswith("🚫"))
    assert not shown.attachments and not shown.embeds and "withheld" in shown.content
    job_id = next(iter(j.id for j in bot.studio.queue.store.by_status(JobStatus.BLOCKED)))
    assert bot.studio.queue.get(job_id).status is JobStatus.BLOCKED


async def test_blur_spoiler_posts_flagged_images_blurred(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    from safety import ImageChecker

    bot.studio.screener.image_checker = ImageChecker(SafetyConfig(), _FlagEverything())
    bot.studio.guilds.set(loopback.guild.id, loopback.owner.id, "nsfw_policy", "blur_spoiler")
    lee = loopback.add_user("lee")
    record = await loopback.slash("imagine", {"prompt": "a portrait", "count": 1}, user=lee)
    shown = await loopback.wait_original(record, _done)
    assert shown.attachments[0].filename.startswith("SPOILER_")
    assert "image" not in shown.embeds[0]  # the embed must not show it unblurred-looking


async def test_jobs_left_by_a_stopped_bot_are_delivered_after_restart(
    loopback: LoopbackDiscord, settings: Settings, engine: ImageEngine
) -> None:
    gated = GatedEngine(engine)  # the first run never gets to paint
    mia = loopback.add_user("mia")
    async with running_bot(loopback, settings, gated, finish=False):
        record = await loopback.slash("imagine", {"prompt": "a ferry", "count": 1}, user=mia)
        await loopback.wait_original(record, lambda m: m.edits > 0)
    gated.gate.set()
    async with running_bot(loopback, settings, engine):
        # The new run finishes the original reply through the token studio kept with the job:
        # it does not stay at "Queued" while the result goes elsewhere.
        result = await loopback.wait_original(record, _done, timeout=60)
    assert result.attachments and result.embeds and result.components
    assert not loopback.channel_messages("art")


async def test_after_a_restart_past_the_token_the_reply_points_to_the_channel_post(
    loopback: LoopbackDiscord, settings: Settings, engine: ImageEngine
) -> None:
    gated = GatedEngine(engine)
    nia = loopback.add_user("nia")
    async with running_bot(loopback, settings, gated, finish=False):
        record = await loopback.slash("imagine", {"prompt": "a kiln", "count": 1}, user=nia)
        await loopback.wait_original(record, lambda m: m.edits > 0)  # "Painting…"
    # The restart comes after the token's 15 minutes: the bot knows it from the stored expiry
    # (here: it uses tokens for a moment only), and Discord would refuse the token anyway.
    settings.discord.token_lifetime_seconds = 0.001
    loopback.expire_token(record)
    gated.gate.set()
    async with running_bot(loopback, settings, engine):
        await loopback.wait_for(lambda: bool(loopback.channel_messages("art")), timeout=60)
        reply = await loopback.wait_original(record, lambda m: m.content.startswith("✅"))
    [posted] = loopback.channel_messages("art")
    assert posted.content.startswith(f"<@{nia.id}>") and posted.attachments and posted.embeds
    assert str(posted.id) in reply.content and not reply.embeds  # edited through the channel


async def test_a_failure_while_posting_replaces_the_progress_message(
    loopback: LoopbackDiscord, bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("the renderer broke")

    monkeypatch.setattr("bot.delivery.render_result", broken)
    fay = loopback.add_user("fay")
    record = await loopback.slash("imagine", {"prompt": "a kite", "count": 1}, user=fay)
    told = await loopback.wait_original(record, lambda m: m.content.startswith("⚠️"))
    await bot.bot.idle()
    assert told.content.startswith("⚠️ Something went wrong on our side")
    assert not told.embeds and not told.attachments and not told.components
    [job] = bot.studio.queue.store.by_status(JobStatus.DONE)
    assert "the renderer broke" in (bot.studio.deliveries.notes(job.id).problem or "")


class LongFailureEngine:
    """Fails as a GPU library can: with an error message longer than a Discord message."""

    def generate(self, requests: object, **_: object) -> list[object]:
        raise RuntimeError("tensor shapes do not match: " + "[1, 4, 64, 64] " * 300)


async def test_a_long_engine_error_is_told_in_one_message(
    loopback: LoopbackDiscord, settings: Settings
) -> None:
    gus = loopback.add_user("gus")
    async with running_bot(loopback, settings, LongFailureEngine()):  # type: ignore[arg-type]
        record = await loopback.slash("imagine", {"prompt": "a bell", "count": 1}, user=gus)
        told = await loopback.wait_original(record, lambda m: m.content.startswith("❌"))
    assert told.content.startswith("❌ Painting failed: RuntimeError: tensor shapes do not match")
    text, _, tag = told.content.rpartition(" (job `")  # the job it is about, at the end
    assert len(told.content) <= 2000 and text.endswith("…") and tag.endswith("`)")
