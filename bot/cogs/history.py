"""``/history`` and the "Muralist history" user command: a member's results, one per page.

Each page is a private message with the result (its pictures, seed and settings), the result's
own buttons (upscale, vary, reroll, remix, delete; ``bot.views``), and ◀ ▶ plus "Use these
settings". The page buttons are ``DynamicItem``s that carry whose history, which page and the
search in their custom_id, so they work after a restart; studio checks on every click that the
member may see that history.
"""

from __future__ import annotations

import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.community import SettingsModal
from bot.context import context, requester
from bot.errors import report_error
from bot.render import OutFile, render_result
from bot.routing import send_form
from bot.views import result_view
from studio import MAX_QUERY, HistoryPage

_TEMPLATE = r"mhist:(?P<dir>[pn]):(?P<user>\d{1,20}):(?P<pos>\d{1,6}):(?P<query>.{0,%d})"
NAV_ROW = 4


def _custom_id(direction: str, user_id: int, position: int, query: str | None) -> str:
    return f"mhist:{direction}:{user_id}:{position}:{query or ''}"


class HistoryPageButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=_TEMPLATE % MAX_QUERY
):
    """◀ / ▶: another page of the same member's history and search."""

    def __init__(
        self,
        direction: str,
        user_id: int,
        position: int,
        query: str | None,
        *,
        disabled: bool = False,
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label="◀ Newer" if direction == "p" else "Older ▶",
                style=discord.ButtonStyle.secondary,
                custom_id=_custom_id(direction, user_id, position, query),
                disabled=disabled,
                row=NAV_ROW,
            )
        )
        self.user_id = user_id
        self.position = position
        self.query = query or None

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> HistoryPageButton:
        return cls(match["dir"], int(match["user"]), int(match["pos"]), match["query"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await interaction.response.defer()
            page = await context(interaction).studio.gallery.page(
                requester(interaction), self.user_id, self.query, self.position
            )
            content, files, embed, view = history_message(page, interaction.filesize_limit)
            await interaction.edit_original_response(
                content=content,
                embed=embed,
                attachments=[f.to_discord() for f in files],
                view=view,
            )
        except Exception as exc:  # a member's click is answered whatever fails
            await report_error(interaction, exc)


class UseSettingsButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"mhset:(?P<job>[0-9a-f]{32})"
):
    """⚙️ "Use these settings": the result's prompt and settings in a form, to paint again."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Use these settings",
                emoji="⚙️",
                style=discord.ButtonStyle.primary,
                custom_id=f"mhset:{job_id}",
                row=NAV_ROW,
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> UseSettingsButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            options = await context(interaction).studio.reuse(self.job_id)
            await send_form(interaction, SettingsModal(self.job_id, options))
        except Exception as exc:  # e.g. the job is no longer stored
            await report_error(interaction, exc)


def history_message(
    page: HistoryPage, filesize_limit: int
) -> tuple[str, list[OutFile], discord.Embed | None, discord.ui.View | None]:
    """One page: a header line, the result's files and embed, its buttons and the page row."""
    whose = f"<@{page.user_id}>'s"
    search = f" matching “{page.query}”" if page.query else ""
    if page.job is None:
        return f"🖼️ No pictures in {whose} history{search} yet.", [], None, None
    files, embed = render_result(page.job, filesize_limit)
    view = result_view(page.job, report=False)
    newer, older = page.position - 1, page.position + 1
    view.add_item(
        HistoryPageButton("p", page.user_id, max(newer, 0), page.query, disabled=newer < 0)
    )
    last = page.total - 1
    view.add_item(
        HistoryPageButton("n", page.user_id, min(older, last), page.query, disabled=older > last)
    )
    view.add_item(UseSettingsButton(page.job.job_id))
    header = f"🖼️ {whose} history{search}: {page.position + 1} of {page.total}, newest first"
    return header, files, embed, view


async def show_history(
    interaction: discord.Interaction, user_id: int | None, query: str | None
) -> None:
    """The first page, privately (studio refuses another member's history to non-moderators)."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    page = await context(interaction).studio.gallery.page(
        requester(interaction), user_id, " ".join((query or "").split()) or None
    )
    content, files, embed, view = history_message(page, interaction.filesize_limit)
    await interaction.followup.send(
        content,
        embed=embed or discord.utils.MISSING,
        files=[f.to_discord() for f in files],
        view=view or discord.utils.MISSING,
        ephemeral=True,
    )


class HistoryCog(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(name="Muralist history", callback=self._of_member)
        self.menu.guild_only = True

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    @app_commands.command(name="history", description="Your earlier pictures, newest first")
    @app_commands.guild_only()
    @app_commands.describe(
        user="Whose pictures (another member's: moderators only)",
        query="Words of the prompt to look for",
    )
    async def history(
        self,
        interaction: discord.Interaction,
        user: discord.User | None = None,
        query: app_commands.Range[str, 1, MAX_QUERY] | None = None,
    ) -> None:
        await show_history(interaction, user.id if user else None, query)

    async def _of_member(
        self, interaction: discord.Interaction, member: discord.Member | discord.User
    ) -> None:
        await show_history(interaction, member.id, None)
