"""The moderation log channel: one message per blocked prompt, flagged image, report or result
waiting for approval, with buttons for the moderators.

Buttons are ``DynamicItem``s, ``mlog:<action>:<entry id>:<job id or ->:<user id>`` (at most 75
characters), so they work after a restart: everything they need is in the id, the moderation
record and the job store. Who may press them is checked on every click (Manage Messages or the
guild's moderator role), and every decision goes to the moderation record.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from typing import Any, ClassVar, Literal

import discord

from bot.guild_settings import GuildSettings, GuildSettingsStore, InvalidSetting
from bot.moderation import GuardedService, discord_time
from bot.permissions import require_moderator
from bot.render import DEFAULT_FILESIZE_LIMIT, render_result
from bot.views import result_view
from generation.studio_types import JobRecord
from safety import ModerationEntry, ModerationRecord

log = logging.getLogger(__name__)

DURATION_RE = re.compile(r"^\s*(\d{1,5})\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_DURATION = timedelta(days=3650)

_TITLES = {
    "blocked_prompt": "🚫 Blocked prompt",
    "absolute_rule": "⛔ Blocked prompt (absolute rule)",
    "flagged_image": "🔞 Flagged image",
    "unchecked_image": "❓ Image that could not be checked",
    "report": "⚠️ Report",
    "hidden": "🙈 Result hidden after reports",
}


def _bad_duration(text: str) -> InvalidSetting:
    return InvalidSetting(
        "duration",
        f"{text!r} is not a duration; use a number and m, h, d or w (30m, 12h, 7d, 2w), "
        "at most 3650 days, or leave it empty for a ban with no end",
    )


def parse_duration(text: str | None) -> timedelta | None:
    """``30m``, ``12h``, ``7d``, ``2w`` → a timedelta; empty → None (no end)."""
    if text is None or not text.strip():
        return None
    match = DURATION_RE.match(text)
    if match is None:
        raise _bad_duration(text)
    duration = timedelta(seconds=int(match[1]) * _UNITS[match[2].lower()])
    if not timedelta(0) < duration <= MAX_DURATION:
        raise _bad_duration(text)
    return duration


async def ban_member(
    record: ModerationRecord,
    interaction: discord.Interaction,
    user_id: int,
    duration: str | None,
    reason: str,
) -> str:
    """Ban ``user_id`` in the interaction's guild (``/mod ban``, the log's Ban button); returns
    what to tell the moderator."""
    length = parse_duration(duration)
    guild_id = interaction.guild_id or 0
    done = await asyncio.to_thread(
        lambda: record.ban(
            guild_id, user_id, by=interaction.user.id, reason=reason, duration=length
        )
    )
    until = (
        f"until {discord_time(done.expires_at)}" if done.expires_at is not None else "with no end"
    )
    return f"<@{user_id}> is banned from generating {until}. Reason: {done.reason}"


def jump_url(guild_id: int, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def mod_custom_id(action: str, entry_id: int, job_id: str | None, user_id: int | None) -> str:
    return f"mlog:{action}:{entry_id}:{job_id or '-'}:{user_id or 0}"


class ModButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"mlog:(?P<action>remove|ban|dismiss|approve|reject):(?P<entry>\d{1,18}):"
    r"(?P<job>[0-9a-f]{32}|-):(?P<user>\d{1,20})",
):
    _LOOKS: ClassVar[dict[str, tuple[str, discord.ButtonStyle, str]]] = {
        "remove": ("Remove result", discord.ButtonStyle.danger, "🗑️"),
        "ban": ("Ban user", discord.ButtonStyle.danger, "🔨"),
        "dismiss": ("Dismiss", discord.ButtonStyle.secondary, "👌"),
        "approve": ("Approve", discord.ButtonStyle.success, "✅"),
        "reject": ("Reject", discord.ButtonStyle.danger, "✖️"),
    }

    def __init__(self, action: str, entry_id: int, job_id: str | None, user_id: int | None):
        label, style, emoji = self._LOOKS[action]
        super().__init__(
            discord.ui.Button(
                label=label,
                style=style,
                emoji=emoji,
                custom_id=mod_custom_id(action, entry_id, job_id, user_id),
            )
        )
        self.action = action
        self.entry_id = entry_id
        self.job_id = job_id
        self.user_id = user_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ModButton:
        job = None if match["job"] == "-" else match["job"]
        return cls(match["action"], int(match["entry"]), job, int(match["user"]) or None)

    async def callback(self, interaction: discord.Interaction) -> None:
        modlog: ModLog = interaction.client.modlog  # type: ignore[attr-defined]
        await modlog.on_button(interaction, self)


class BanModal(discord.ui.Modal, title="Ban from generating"):
    def __init__(self, modlog: ModLog, user_id: int, source: discord.Message | None) -> None:
        super().__init__(custom_id=f"mlog:banmodal:{user_id}", timeout=600)
        self.modlog = modlog
        self.user_id = user_id
        self.source = source
        self.duration: discord.ui.TextInput[BanModal] = discord.ui.TextInput(
            required=False, max_length=10, custom_id="duration"
        )
        self.reason: discord.ui.TextInput[BanModal] = discord.ui.TextInput(
            max_length=500, custom_id="reason"
        )
        self.add_item(
            discord.ui.Label(
                text="Duration (30m, 12h, 7d, 2w; empty: no end)", component=self.duration
            )
        )
        self.add_item(discord.ui.Label(text="Reason (the user sees it)", component=self.reason))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        text = await ban_member(
            self.modlog.service.record,
            interaction,
            self.user_id,
            self.duration.value,
            self.reason.value,
        )
        await interaction.response.send_message(text, ephemeral=True)
        if self.source is not None:
            await self.modlog.close_entry(self.source, f"🔨 {text} — {interaction.user.mention}")

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        from bot.errors import report_error

        await report_error(interaction, error)


class ModLog:
    """Posts entries and approvals to a guild's channels and handles the moderators' buttons."""

    def __init__(
        self, client: discord.Client, service: GuardedService, guilds: GuildSettingsStore
    ) -> None:
        self.client = client
        self.service = service
        self.guilds = guilds

    # -- posting -----------------------------------------------------------------------------
    def _embed(self, entry: ModerationEntry, place: tuple[int, int] | None) -> discord.Embed:
        """``place``: where the entry's result is posted, ``(channel id, message id)``."""
        embed = discord.Embed(
            title=_TITLES.get(entry.kind, entry.kind),
            description=(entry.reason or "—")[:2000],
            timestamp=entry.at,
        )
        if entry.user_id:
            embed.add_field(name="User", value=f"<@{entry.user_id}>", inline=True)
        if entry.actor_id:
            embed.add_field(name="By", value=f"<@{entry.actor_id}>", inline=True)
        if entry.channel_id:
            embed.add_field(name="Channel", value=f"<#{entry.channel_id}>", inline=True)
        prompt = entry.details.get("prompt")
        if prompt:
            embed.add_field(name="Prompt", value=f"||{prompt[:1000]}||", inline=False)
        if entry.job_id:
            value = f"`{entry.job_id}`"
            if place is not None and entry.guild_id is not None:
                value += f" — [result]({jump_url(entry.guild_id, *place)})"
            embed.add_field(name="Job", value=value, inline=False)
        embed.set_footer(text=f"moderation record #{entry.id}")
        return embed

    def _view(self, entry: ModerationEntry) -> discord.ui.View:
        view = discord.ui.View(timeout=None)
        if entry.kind == "hidden" and entry.job_id:
            view.add_item(ModButton("approve", entry.id, entry.job_id, entry.user_id))
        if entry.job_id and entry.kind in ("report", "hidden"):
            view.add_item(ModButton("remove", entry.id, entry.job_id, entry.user_id))
        if entry.user_id:
            view.add_item(ModButton("ban", entry.id, entry.job_id, entry.user_id))
        view.add_item(ModButton("dismiss", entry.id, entry.job_id, entry.user_id))
        return view

    async def entry(self, settings: GuildSettings, entry: ModerationEntry) -> None:
        """Tell the log channel, if the guild has one."""
        if settings.mod_log_channel is None:
            return
        place = await self.service.result_message(entry.job_id) if entry.job_id else None
        channel = self.client.get_partial_messageable(settings.mod_log_channel)
        await channel.send(
            embed=self._embed(entry, place),
            view=self._view(entry),
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def approval(self, settings: GuildSettings, job: JobRecord) -> bool:
        """Send a result to the moderators with Approve / Reject; False when there is nowhere."""
        target = settings.approval_target or settings.mod_log_channel
        if target is None:
            return False
        files, embed = render_result(job, DEFAULT_FILESIZE_LIMIT)
        entry = await asyncio.to_thread(
            lambda: self.service.record.log(
                "hidden",
                guild_id=job.guild_id,
                channel_id=job.channel_id,
                user_id=job.user_id,
                job_id=job.job_id,
                reason="waiting for a moderator's approval (approval mode)",
            )
        )
        view = discord.ui.View(timeout=None)
        view.add_item(ModButton("approve", entry.id, job.job_id, job.user_id))
        view.add_item(ModButton("reject", entry.id, job.job_id, job.user_id))
        view.add_item(ModButton("ban", entry.id, job.job_id, job.user_id))
        channel = self.client.get_partial_messageable(target)
        await channel.send(
            f"🕒 Waiting for approval: <@{job.user_id}> in <#{job.channel_id}>",
            embed=embed,
            files=[f.to_discord() for f in files],
            view=view,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        return True

    async def _delete_result(self, job_id: str) -> bool:
        place = await self.service.result_message(job_id)
        if place is None:
            return False
        channel_id, message_id = place
        try:
            await (
                self.client.get_partial_messageable(channel_id)
                .get_partial_message(message_id)
                .delete()
            )
        except discord.NotFound:
            return False
        except discord.HTTPException as exc:
            log.warning("could not delete the result of job %s: %s", job_id, exc)
            return False
        return True

    async def _post_result(self, job_id: str) -> str:
        """An approved result goes (back) to its channel, with its buttons."""
        postable = await self.service.postable(job_id)
        if isinstance(postable, str):
            return f"nothing could be posted: {postable}"
        files, embed = render_result(postable, DEFAULT_FILESIZE_LIMIT)
        channel = self.client.get_partial_messageable(postable.channel_id)
        message = await channel.send(
            f"<@{postable.user_id}> your images were approved.",
            embed=embed,
            files=[f.to_discord() for f in files],
            view=result_view(postable),
            allowed_mentions=discord.AllowedMentions(
                everyone=False,
                roles=False,
                replied_user=False,
                users=[discord.Object(postable.user_id)],
            ),
        )
        await self.service.delivered(job_id, channel_id=postable.channel_id, message_id=message.id)
        return f"posted in <#{postable.channel_id}>"

    async def close_entry(self, message: discord.Message, outcome: str) -> None:
        """Mark a log message as handled: the outcome replaces the buttons."""
        try:
            await message.edit(content=outcome[:2000], view=None)
        except discord.HTTPException as exc:
            log.warning("could not update the log message %s: %s", message.id, exc)

    # -- the moderators' buttons -------------------------------------------------------------
    async def on_button(self, interaction: discord.Interaction, button: ModButton) -> None:
        from bot.errors import report_error

        try:
            await self._on_button(interaction, button)
        except Exception as exc:
            await report_error(interaction, exc)

    async def _on_button(self, interaction: discord.Interaction, button: ModButton) -> None:
        guild_id = interaction.guild_id or 0
        await asyncio.to_thread(require_moderator, interaction, self.guilds, "do this")
        record = self.service.record
        moderator = interaction.user.id
        if button.action == "ban":
            if button.user_id is None:
                await interaction.response.send_message("No user to ban.", ephemeral=True)
                return
            await interaction.response.send_modal(
                BanModal(self, button.user_id, interaction.message)
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        job_id = button.job_id

        async def decide(action: Literal["approve", "remove"], job: str, why: str) -> None:
            await asyncio.to_thread(
                lambda: record.decide(
                    job,
                    guild_id=guild_id,
                    moderator_id=moderator,
                    action=action,
                    user_id=button.user_id,
                    reason=f"{why} moderation record #{button.entry_id}",
                )
            )

        if button.action == "dismiss":
            await asyncio.to_thread(
                lambda: record.log(
                    "dismiss",
                    guild_id=guild_id,
                    actor_id=moderator,
                    user_id=button.user_id,
                    job_id=job_id,
                    reason=f"dismissed moderation record #{button.entry_id}",
                )
            )
            outcome = f"👌 Dismissed by <@{moderator}>"
        elif job_id is None:
            raise ValueError(f"{button.action} needs a job")
        elif button.action in ("remove", "reject"):
            await decide("remove", job_id, f"{button.action} on")
            gone = await self._delete_result(job_id)
            outcome = (
                f"🗑️ Result removed by <@{moderator}>"
                if gone or button.action == "reject"
                else f"🗑️ Marked removed by <@{moderator}>; the bot could not find the result "
                "message (already deleted, or posted by an older Muralist): delete it by hand"
            )
        else:  # approve
            await decide("approve", job_id, "approved on")
            posted = await self._post_result(job_id)
            outcome = f"✅ Approved by <@{moderator}>: {posted}"
        await interaction.followup.send(outcome, ephemeral=True)
        if interaction.message is not None:
            await self.close_entry(interaction.message, outcome)
