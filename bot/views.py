"""The buttons under a result: each a ``DynamicItem`` whose custom_id names the action and the job.

``muralist:<action>:<job_id>[:<index>]`` (at most 51 characters) survives restarts: the client
registers the template once, and a click on any old message finds its job in the store. What a
click does is in ``bot.actions``; the client routes clicks there.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import discord

from studio import DERIVATIONS, JobRecord

# The studio's derivations (upscale, vary, reroll, zoom, pan), then what only a front end does.
ACTIONS: tuple[str, ...] = (*DERIVATIONS, "remix", "delete", "report", "vary_region")
MOVES = ("pan_left", "pan_right", "pan_up", "pan_down")
_ALTERNATIVES = "|".join(map(re.escape, ACTIONS))  # "zoom_out_1.5" has a dot
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
_EMOJI = {
    "reroll": "🔄",
    "remix": "✏️",
    "delete": "🗑️",
    "report": "⚠️",
    "pan_left": "⬅️",
    "pan_right": "➡️",
    "pan_up": "⬆️",
    "pan_down": "⬇️",
    "vary_region": "🖌️",
}


def _label(action: str, index: int | None, grid: bool) -> str | None:
    if grid and index is not None:
        return f"{'U' if action == 'upscale' else 'V'}{index + 1}"
    return {
        "upscale": "Upscale",
        "vary_subtle": "Vary (subtle)",
        "vary_strong": "Vary (strong)",
        "zoom_out_1.5": "Zoom out 1.5×",
        "zoom_out_2": "Zoom out 2×",
        "vary_region": "Vary region",
    }.get(action)


class ResultButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"muralist:(?P<action>{_ALTERNATIVES}):(?P<job>[0-9a-f]{{32}})(?::(?P<index>[0-3]))?",
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
                style=_STYLES.get(action, discord.ButtonStyle.secondary),
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
    """U1–U4 / V1–V4 and the tools under a grid; under one image Upscale and Vary ×2 (not under
    an upscale), zoom out, vary region, the four pans and the tools (``report``: with the ⚠️
    button; a member's own history has none)."""
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
    elif count == 1:
        # Not under an upscale: no second upscale, and its variations are not offered.
        first = [] if job.request.mode == "upscale" else ["upscale", "vary_subtle", "vary_strong"]
        row = 0
        if first:
            for action in first:
                view.add_item(ResultButton(action, job.job_id, 0, row=row))
            row += 1
        for action in ("zoom_out_1.5", "zoom_out_2", "vary_region"):  # masked edits
            view.add_item(ResultButton(action, job.job_id, 0, row=row))
        for action in MOVES:
            view.add_item(ResultButton(action, job.job_id, 0, row=row + 1))
        for action in tools:
            view.add_item(ResultButton(action, job.job_id, row=row + 2))
    else:  # a job without images
        for action in tools:
            view.add_item(ResultButton(action, job.job_id, row=0))
    return view
