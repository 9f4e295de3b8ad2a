"""The buttons under a result: each a ``DynamicItem`` whose custom_id names the action and the job.

``muralist:<action>:<job_id>[:<index>]`` (at most 51 characters) survives restarts: the client
registers the template once, and a click on any old message finds its job in the store. What a
click does is in ``bot.actions``; the client routes clicks there.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import discord

from studio import JobRecord

ACTIONS = ("upscale", "vary_subtle", "vary_strong", "reroll", "remix", "delete", "report")
_PREFIX = "muralist"


class ButtonRouter(Protocol):
    async def on_result_button(
        self, interaction: discord.Interaction, action: str, job_id: str, index: int | None
    ) -> None: ...


def custom_id(action: str, job_id: str, index: int | None = None) -> str:
    suffix = "" if index is None else f":{index}"
    return f"{_PREFIX}:{action}:{job_id}{suffix}"


_STYLES = {
    "upscale": discord.ButtonStyle.secondary,
    "vary_subtle": discord.ButtonStyle.secondary,
    "vary_strong": discord.ButtonStyle.secondary,
    "reroll": discord.ButtonStyle.primary,
    "remix": discord.ButtonStyle.primary,
    "delete": discord.ButtonStyle.danger,
    "report": discord.ButtonStyle.secondary,
}
_EMOJI = {"reroll": "🔄", "remix": "✏️", "delete": "🗑️", "report": "⚠️"}


def _label(action: str, index: int | None, grid: bool) -> str | None:
    if grid and index is not None:
        return f"{'U' if action == 'upscale' else 'V'}{index + 1}"
    return {
        "upscale": "Upscale",
        "vary_subtle": "Vary (subtle)",
        "vary_strong": "Vary (strong)",
    }.get(action)


class ResultButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"muralist:(?P<action>{'|'.join(ACTIONS)}):(?P<job>[0-9a-f]{{32}})(?::(?P<index>[0-3]))?",
):
    def __init__(
        self,
        action: str,
        job_id: str,
        index: int | None = None,
        *,
        grid: bool = False,
        row: int = 0,
    ) -> None:
        super().__init__(
            discord.ui.Button(
                style=_STYLES[action],
                label=_label(action, index, grid),
                emoji=_EMOJI.get(action),
                custom_id=custom_id(action, job_id, index),
                row=row,
            )
        )
        self.action = action
        self.job_id = job_id
        self.index = index

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> ResultButton:
        index = match["index"]
        return cls(match["action"], match["job"], int(index) if index is not None else None)

    async def callback(self, interaction: discord.Interaction) -> None:
        router: ButtonRouter = interaction.client  # type: ignore[assignment]
        await router.on_result_button(interaction, self.action, self.job_id, self.index)


def result_view(job: JobRecord, *, report: bool = True) -> discord.ui.View:
    """U1–U4 / V1–V4 and the tools under a grid; Upscale, Vary ×2 and the tools under one image
    (``report``: with the ⚠️ button; a member's own history has none)."""
    view = discord.ui.View(timeout=None)
    count = len(job.images)
    tools = ("reroll", "remix", "delete", "report") if report else ("reroll", "remix", "delete")
    if count > 1:
        for index in range(count):
            view.add_item(ResultButton("upscale", job.job_id, index, grid=True, row=0))
        for index in range(count):
            view.add_item(ResultButton("vary_subtle", job.job_id, index, grid=True, row=1))
        for action in tools:
            view.add_item(ResultButton(action, job.job_id, row=2))
    elif count == 1 and job.request.mode != "upscale":
        for action in ("upscale", "vary_subtle", "vary_strong"):
            view.add_item(ResultButton(action, job.job_id, 0, row=0))
        for action in tools:
            view.add_item(ResultButton(action, job.job_id, row=1))
    else:  # an upscale (no further upscaling) or a job without images
        for action in tools:
            view.add_item(ResultButton(action, job.job_id, row=0))
    return view
