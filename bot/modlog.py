"""The moderators' side in Discord: posting the log and approvals studio sends, and the log's
buttons (Remove result, Ban user, Dismiss, Approve, Reject), which studio decides.

``ModLogPoster`` consumes ``Studio.notices()``; a post that fails is logged and skipped (the
moderation record already holds the entry).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, ClassVar

import discord

from bot.actions import delete_message
from bot.context import context, requester
from bot.delivery import nonce
from bot.errors import report_error
from bot.render import DEFAULT_FILESIZE_LIMIT, discord_time, render_result
from bot.routing import send_form
from bot.views import result_view
from studio import (
    ApprovalNotice,
    Ban,
    Decided,
    Decision,
    LogNotice,
    ModerationEntry,
    Notice,
    Studio,
)

log = logging.getLogger(__name__)

_TITLES = {
    "blocked_prompt": "🚫 Blocked prompt",
    "absolute_rule": "⛔ Blocked prompt (absolute rule)",
    "flagged_image": "🔞 Flagged image",
    "unchecked_image": "❓ Image that could not be checked",
    "blocked_input": "🚫 Refused input picture",
    "report": "⚠️ Report",
    "hidden": "🙈 Result hidden after reports",
}


def ban_text(ban: Ban) -> str:
    """What a moderator is told of a ban they made."""
    until = f"until {discord_time(ban.expires_at)}" if ban.expires_at is not None else "with no end"
    return f"<@{ban.user_id}> is banned from generating {until}. Reason: {ban.reason}"


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
        try:
            await _on_button(interaction, self)
        except Exception as exc:
            await report_error(interaction, exc)


class BanModal(discord.ui.Modal, title="Ban from generating"):
    """Duration and reason of a ban. Answered by ``bot.routing`` from its custom_id (the user)
    and its fields, so it works after a restart; the log message it came from is closed."""

    route: ClassVar[re.Pattern[str]] = re.compile(r"mlog:banmodal:(?P<user>\d{1,20})")

    def __init__(self, user_id: int) -> None:
        super().__init__(custom_id=f"mlog:banmodal:{user_id}", timeout=600)
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

    @classmethod
    async def submitted(
        cls, interaction: discord.Interaction, match: re.Match[str], values: dict[str, str]
    ) -> None:
        studio = context(interaction).studio
        who = requester(interaction)
        user_id = int(match["user"])
        duration, reason = values.get("duration", ""), values.get("reason", "")
        ban = await studio.moderation.ban(who, user_id, duration, reason)
        text = ban_text(ban)
        await interaction.response.send_message(text, ephemeral=True)
        if interaction.message is not None:
            await close_entry(interaction.message, f"🔨 {text} — {interaction.user.mention}")


def _embed(entry: ModerationEntry, place: tuple[int, int] | None) -> discord.Embed:
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


def _view(entry: ModerationEntry) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    if entry.kind == "hidden" and entry.job_id:
        view.add_item(ModButton("approve", entry.id, entry.job_id, entry.user_id))
    if entry.job_id and entry.kind in ("report", "hidden"):
        view.add_item(ModButton("remove", entry.id, entry.job_id, entry.user_id))
    if entry.user_id:
        view.add_item(ModButton("ban", entry.id, entry.job_id, entry.user_id))
    view.add_item(ModButton("dismiss", entry.id, entry.job_id, entry.user_id))
    return view


class ModLogPoster:
    """Posts what studio tells the moderators: log entries and results awaiting approval."""

    def __init__(self, client: discord.Client, studio: Studio) -> None:
        self.client = client
        self.studio = studio

    async def run(self) -> None:
        """Until cancelled: each notice posted, a failed post logged and skipped."""
        async for notice in self.studio.notices():
            try:
                await self.post(notice)
            except Exception:  # the log is a courtesy; the record already holds the entry
                log.exception("could not post a moderation notice to channel %s", notice.channel_id)

    async def post(self, notice: Notice) -> None:
        channel = self.client.get_partial_messageable(notice.channel_id)
        if isinstance(notice, LogNotice):
            await channel.send(
                embed=_embed(notice.entry, notice.place),
                view=_view(notice.entry),
                allowed_mentions=discord.AllowedMentions.none(),
            )
            return
        await self._approval(channel, notice)

    @staticmethod
    async def _approval(channel: discord.PartialMessageable, notice: ApprovalNotice) -> None:
        job, entry = notice.job, notice.entry
        files, embed = render_result(job, DEFAULT_FILESIZE_LIMIT)
        view = discord.ui.View(timeout=None)
        view.add_item(ModButton("approve", entry.id, job.job_id, job.user_id))
        view.add_item(ModButton("reject", entry.id, job.job_id, job.user_id))
        view.add_item(ModButton("ban", entry.id, job.job_id, job.user_id))
        await channel.send(
            f"🕒 Waiting for approval: <@{job.user_id}> in <#{job.channel_id}>",
            embed=embed,
            files=[f.to_discord() for f in files],
            view=view,
            allowed_mentions=discord.AllowedMentions.none(),
        )


async def close_entry(message: discord.Message, outcome: str) -> None:
    """Mark a log message as handled: the outcome replaces the buttons."""
    try:
        await message.edit(content=outcome[:2000], view=None)
    except discord.HTTPException as exc:
        log.warning("could not update the log message %s: %s", message.id, exc)


async def _on_button(interaction: discord.Interaction, button: ModButton) -> None:
    studio = context(interaction).studio
    who = requester(interaction)
    await asyncio.to_thread(studio.moderation.require_moderator, who, "do this")
    if button.action == "ban":
        if button.user_id is None:
            await interaction.response.send_message("No user to ban.", ephemeral=True)
            return
        await send_form(interaction, BanModal(button.user_id))
        return
    await interaction.response.defer(ephemeral=True, thinking=True)
    decision: Decision = button.action  # type: ignore[assignment]
    decided = await studio.decide(who, decision, button.entry_id, button.job_id, button.user_id)
    moderator = interaction.user.id
    if decision == "dismiss":
        outcome = f"👌 Dismissed by <@{moderator}>"
    elif decision in ("remove", "reject"):
        gone = await delete_message(interaction.client, decided.take_down)
        outcome = (
            f"🗑️ Result removed by <@{moderator}>"
            if gone or decision == "reject"
            else f"🗑️ Marked removed by <@{moderator}>; the bot could not find the result "
            "message (already deleted, or posted by an older Muralist): delete it by hand"
        )
    else:
        outcome = f"✅ Approved by <@{moderator}>: {await _post_approved(interaction, decided)}"
    await interaction.followup.send(outcome, ephemeral=True)
    if interaction.message is not None:
        await close_entry(interaction.message, outcome)


async def _post_approved(interaction: discord.Interaction, decided: Decided) -> str:
    """An approved result goes (back) to its channel, with its buttons; once, however many
    moderators approve at the same moment (the post's nonce is enforced by Discord)."""
    job = decided.post
    if job is None:
        return f"nothing could be posted: {decided.problem}"
    files, embed = render_result(job, DEFAULT_FILESIZE_LIMIT)
    channel = interaction.client.get_partial_messageable(job.channel_id)
    message = await channel.send(
        f"<@{job.user_id}> your images were approved.",
        embed=embed,
        files=[f.to_discord() for f in files],
        view=result_view(job),
        nonce=nonce(job.job_id, "ok"),
        allowed_mentions=discord.AllowedMentions(
            everyone=False, roles=False, replied_user=False, users=[discord.Object(job.user_id)]
        ),
    )
    studio = context(interaction).studio
    await studio.delivered(job.job_id, channel_id=job.channel_id, message_id=message.id)
    return f"posted in <#{job.channel_id}>"
