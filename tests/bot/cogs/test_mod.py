"""/mod and the moderation log: bans refused with reason and expiry, moderator checks, the
record, flagged images (withheld or blurred), reports, approval mode, and the log's buttons."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bot.config import Settings
from generation.engine_api import ImageEngine
from loopback import LoopbackDiscord, StoredMessage
from loopback.fixtures import ADMIN_PERMISSIONS, MEMBER_PERMISSIONS
from tests.bot.cogs.helpers import (
    CommunityBot,
    answer,
    community_bot,
    imagine,
    is_result,
    say,
    text_of,
    wait_channel,
)


def _has_button(label: str) -> Callable[[StoredMessage], bool]:
    def check(message: StoredMessage) -> bool:
        try:
            message.button(label)
        except Exception:
            return False
        return True

    return check


async def test_ban_refuses_with_reason_and_expiry_until_unbanned(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    moderator = loopback.add_user("mod", moderator=True)
    carol = loopback.add_user("carol")
    banned = await say(
        loopback,
        "mod ban",
        {"user": carol, "duration": "2h", "reason": "spamming the channel"},
        user=moderator,
    )
    assert banned.ephemeral and "spamming the channel" in banned.content
    expiry = int(re.search(r"<t:(\d+):f>", banned.content)[1])  # type: ignore[index]
    assert abs(expiry - (time.time() + 7200)) < 60

    refused = await answer(loopback, await imagine(loopback, carol))
    until = datetime.fromtimestamp(expiry, UTC)
    assert refused.ephemeral and "banned from painting here" in refused.content
    assert f"until {until:%Y-%m-%d %H:%M} UTC: spamming the channel" in refused.content
    assert cbot.studio.queue.queue_length() == 0

    listed = await say(loopback, "mod bans", user=moderator)
    assert f"<@{carol.id}>" in listed.content and "spamming the channel" in listed.content

    bad = await say(loopback, "mod ban", {"user": carol, "duration": "forever"}, user=moderator)
    assert "`duration`" in bad.content and "30m, 12h, 7d, 2w" in bad.content

    lifted = await say(loopback, "mod unban", {"user": carol}, user=moderator)
    assert "may generate again" in lifted.content
    result = await loopback.wait_original(await imagine(loopback, carol), is_result)
    kinds = [e.kind for e in cbot.studio.record.recent(loopback.guild.id, 5)]
    assert kinds[:2] == ["unban", "ban"]

    recent = text_of(await say(loopback, "mod recent", {"count": 5}, user=moderator))
    assert "**unban**" in recent and "**ban**" in recent and "spamming the channel" in recent

    # Buttons too: a member banned again (with no end) cannot reroll an earlier result.
    await say(loopback, "mod ban", {"user": carol, "reason": "again"}, user=moderator)
    click = await loopback.click(result, result.button("🔄"), user=carol)
    assert "banned from painting here: again" in (await answer(loopback, click)).content


async def test_mod_needs_manage_messages_or_the_moderator_role(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    member = loopback.add_user("member")
    refused = await say(loopback, "mod bans", user=member)
    assert refused.ephemeral and "Only moderators can use /mod" in refused.content

    admin = loopback.add_user("admin", permissions=ADMIN_PERMISSIONS)
    cbot.studio.guilds.set(loopback.guild.id, admin.id, "moderator_role", 4242)
    helper = loopback.add_user("helper", permissions=MEMBER_PERMISSIONS)
    loopback.guild.member_roles[helper.id] = [loopback.guild.moderator_role_id]
    still_refused = await say(loopback, "mod bans", user=helper)
    assert "Only moderators" in still_refused.content  # a role, but not the configured one
    role = loopback.guild.moderator_role_id
    set_role = await say(loopback, "settings moderator-role", {"role": role}, user=admin)
    assert set_role.content == f"✅ Moderator role: <@&{role}>"
    assert cbot.studio.guilds.get(loopback.guild.id).moderator_role == role
    allowed = await say(loopback, "mod bans", user=helper)
    assert allowed.content.startswith("**Banned from generating**")

    # The role, without Manage Messages, also deletes another member's result.
    result = await loopback.wait_original(await imagine(loopback, member), is_result)
    await loopback.click(result, result.button("🗑️"), user=helper)
    await loopback.wait_for(lambda: result.deleted)


async def test_flagged_image_withheld_logged_and_dismissed(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    admin = loopback.add_user("admin", permissions=ADMIN_PERMISSIONS)
    moderator = loopback.add_user("mod", moderator=True)
    dave = loopback.add_user("dave")
    await say(
        loopback, "settings log-channel", {"channel": loopback.channel("general")}, user=admin
    )
    cbot.detector.flag = True
    record = await imagine(loopback, dave)
    withheld = await loopback.wait_original(record, lambda m: m.content.startswith("🚫"))
    assert "withheld in this channel" in withheld.content and not withheld.attachments

    log = await wait_channel(loopback, "general", _has_button("Dismiss"))
    assert "Flagged image" in text_of(log) and f"<@{dave.id}>" in text_of(log)
    labels = [c["label"] for row in log.components for c in row["components"]]
    assert labels == ["Ban user", "Dismiss"]  # withheld: nothing was posted to remove
    assert all(len(custom_id) <= 100 for custom_id in log.custom_ids())
    stranger = await loopback.click(log, log.button("Dismiss"), user=dave)
    assert "Only moderators" in (await answer(loopback, stranger)).content
    click = await loopback.click(log, log.button("Dismiss"), user=moderator)
    await answer(loopback, click)
    await loopback.wait_for(lambda: log.content.startswith("👌 Dismissed"))
    assert log.components == []
    entries = cbot.studio.record.recent(loopback.guild.id, 3)
    assert [e.kind for e in entries[:2]] == ["dismiss", "flagged_image"]
    assert entries[0].actor_id == moderator.id


async def test_ban_button_opens_a_modal(loopback: LoopbackDiscord, cbot: CommunityBot) -> None:
    admin = loopback.add_user("admin", permissions=ADMIN_PERMISSIONS)
    moderator = loopback.add_user("mod", moderator=True)
    erin = loopback.add_user("erin")
    await say(
        loopback, "settings log-channel", {"channel": loopback.channel("general")}, user=admin
    )
    await say(loopback, "settings term-add", {"term": "kraken"}, user=admin)
    await answer(loopback, await imagine(loopback, erin, prompt="a kraken"))
    log = await wait_channel(loopback, "general", _has_button("Ban user"))
    click = await loopback.click(log, log.button("Ban user"), user=moderator)
    bad = await loopback.submit_modal(click, {"duration": "soon", "reason": "kraken again"})
    assert "`duration`" in (await answer(loopback, bad)).content
    click = await loopback.click(log, log.button("Ban user"), user=moderator)
    done = await loopback.submit_modal(click, {"duration": "7d", "reason": "kraken again"})
    assert "kraken again" in (await answer(loopback, done)).content
    ban = cbot.studio.record.active_ban(loopback.guild.id, erin.id)
    assert ban is not None and ban.banned_by == moderator.id and ban.expires_at is not None
    refused = await answer(loopback, await imagine(loopback, erin, prompt="a boat"))
    assert "banned" in refused.content and "kraken again" in refused.content


async def test_report_reaches_the_log_and_remove_deletes_the_result(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    admin = loopback.add_user("admin", permissions=ADMIN_PERMISSIONS)
    moderator = loopback.add_user("mod", moderator=True)
    frank, gina = loopback.add_user("frank"), loopback.add_user("gina")
    await say(
        loopback, "settings log-channel", {"channel": loopback.channel("general")}, user=admin
    )
    result = await loopback.wait_original(await imagine(loopback, frank), is_result)
    report = await loopback.click(result, result.button("⚠️"), user=gina)
    assert "moderators will take a look" in (await answer(loopback, report)).content

    log = await wait_channel(loopback, "general", _has_button("Remove result"))
    assert "Report" in text_of(log) and f"/{result.id})" in text_of(log)
    remove = await loopback.click(log, log.button("Remove result"), user=moderator)
    await answer(loopback, remove)
    await loopback.wait_for(lambda: result.deleted)
    assert log.content.startswith("🗑️ Result removed")
    job_id = result.embeds[0]["footer"]["text"].removeprefix("job ")
    assert cbot.studio.record.result_state(job_id).status == "removed"


async def test_blur_spoiler_policy_posts_blurred_spoilers(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    admin = loopback.add_user("admin", permissions=ADMIN_PERMISSIONS)
    hana = loopback.add_user("hana")
    await say(loopback, "settings nsfw", {"policy": "blur_spoiler"}, user=admin)
    cbot.detector.flag = True
    result = await loopback.wait_original(await imagine(loopback, hana), is_result)
    assert [a.filename for a in result.attachments] == ["SPOILER_muralist_5.png"]
    assert "image" not in result.embeds[0]
    job_id = result.embeds[0]["footer"]["text"].removeprefix("job ")
    stored = cbot.studio.queue.get(job_id).image_paths[0].read_bytes()
    assert result.attachments[0].data != stored  # the posted picture is the blurred one
    # Nobody reported it, yet the record links the flagged image to where it was posted.
    moderator = loopback.add_user("mod", moderator=True)
    recent = text_of(await say(loopback, "mod recent", {"count": 5}, user=moderator))
    assert "**flagged_image**" in recent and f"/{result.channel_id}/{result.id})" in recent


async def test_approval_mode_waits_for_a_moderator(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    admin = loopback.add_user("admin", permissions=ADMIN_PERMISSIONS)
    moderator = loopback.add_user("mod", moderator=True)
    ivan = loopback.add_user("ivan")
    art = loopback.channel("art")
    nothing = await say(
        loopback, "settings approval", {"channel": art, "enabled": True}, user=admin
    )
    assert nothing.content.startswith("✅ Approval mode")
    waiting = await loopback.wait_original(
        await imagine(loopback, ivan), lambda m: m.content.startswith("🚫")
    )
    assert "no moderators' channel is set" in waiting.content

    await say(
        loopback, "settings log-channel", {"channel": loopback.channel("general")}, user=admin
    )
    held = await loopback.wait_original(
        await imagine(loopback, ivan, prompt="a lantern"), lambda m: m.content.startswith("🚫")
    )
    assert "sent to the moderators" in held.content and not held.attachments
    pending = await wait_channel(loopback, "general", _has_button("Approve"))
    assert pending.attachments and "Waiting for approval" in pending.content
    # Two moderators approve at once: the result is posted once.
    second = loopback.add_user("mod2", moderator=True)
    approve = pending.button("Approve")
    clicks = [await loopback.click(pending, approve, user=m) for m in (moderator, second)]
    for click in clicks:
        await answer(loopback, click)
    posted = await wait_channel(loopback, "art", lambda m: bool(m.attachments))
    assert len([m for m in loopback.channel_messages("art") if m.attachments]) == 1
    assert f"<@{ivan.id}> your images were approved." == posted.content
    assert posted.embeds[0]["description"] == "a lantern" and posted.components
    assert pending.content.startswith("✅ Approved by")
    job_id = posted.embeds[0]["footer"]["text"].removeprefix("job ")
    place = await cbot.studio.result_message(job_id)
    assert place == (posted.channel_id, posted.id)  # the approved post, for a later Remove


async def test_enough_reports_hide_a_result_until_a_moderator_approves(
    loopback: LoopbackDiscord, settings: Settings, engine: ImageEngine
) -> None:
    settings.safety.reports_to_hide = 2
    async with community_bot(loopback, settings, engine) as cbot:
        admin = loopback.add_user("admin", permissions=ADMIN_PERMISSIONS)
        moderator = loopback.add_user("mod", moderator=True)
        author, one, two = (loopback.add_user(n) for n in ("author", "one", "two"))
        general = loopback.channel("general")
        await say(loopback, "settings log-channel", {"channel": general}, user=admin)
        result = await loopback.wait_original(await imagine(loopback, author), is_result)
        for reporter in (one, one, two):  # a repeat report by one member does not count
            await answer(loopback, await loopback.click(result, result.button("⚠️"), user=reporter))
            assert result.deleted == (reporter is two)
        job_id = result.embeds[0]["footer"]["text"].removeprefix("job ")
        assert cbot.studio.record.result_state(job_id).status == "hidden"

        hidden = await wait_channel(loopback, "general", _has_button("Approve"))
        assert "hidden after reports" in text_of(hidden)
        await answer(
            loopback, await loopback.click(hidden, hidden.button("Approve"), user=moderator)
        )
        back = await wait_channel(loopback, "art", lambda m: bool(m.attachments))
        assert back.embeds[0]["footer"]["text"] == f"job {job_id}"
        assert cbot.studio.record.result_state(job_id).status == "approved"

        recent = text_of(await say(loopback, "mod recent", {"count": 10}, user=moderator))
        assert "**approve**" in recent and "**hidden**" in recent and "**report**" in recent
        changed = f"`mod_log_channel`: `None` → `{general.id}`"
        assert f"⚙️ **setting** by <@{admin.id}> — {changed}" in recent


async def test_allow_policy_posts_flagged_images_only_in_age_restricted_channels(
    loopback: LoopbackDiscord, cbot: CommunityBot
) -> None:
    admin = loopback.add_user("admin", permissions=ADMIN_PERMISSIONS)
    jo = loopback.add_user("jo")
    await say(loopback, "settings nsfw", {"policy": "allow"}, user=admin)
    cbot.detector.flag = True
    posted = await loopback.wait_original(
        await imagine(loopback, jo, channel="after-dark"), is_result
    )
    assert [a.filename for a in posted.attachments] == ["muralist_5.png"]
    withheld = await loopback.wait_original(
        await imagine(loopback, jo, channel="art"), lambda m: m.content.startswith("🚫")
    )
    assert "withheld in this channel" in withheld.content
