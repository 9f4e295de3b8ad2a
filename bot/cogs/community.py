"""Members' commands beside ``/imagine``: ``/styles``, ``/queue``, ``/cancel``, ``/info``, ``/help``
and the "Use these settings" message command on a result.

Everything here asks studio (presets, the queue's places and ETAs, the workers, the models the
guild allows) and renders the answer; ``/cancel`` and the modal act through studio too.
"""

from __future__ import annotations

import math
import re
from importlib import metadata
from typing import Any, ClassVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.actions import start_and_follow
from bot.boundary import typed
from bot.context import context, requester
from bot.routing import send_form
from studio import Allowance, ImagineOptions, WorkerInfo
from studio.errors import InvalidRequest
from studio.ranges import describe

STYLES_PER_PAGE = 10
_JOB_IN_ID = re.compile(r"^muralist:[a-z_]+:(?P<job>[0-9a-f]{32})")


def version() -> str:
    try:
        return metadata.version("muralist")
    except metadata.PackageNotFoundError:
        return "development checkout"


def styles_page(presets: list[Any], page: int) -> tuple[discord.Embed, int]:
    """One page of presets (1-based, clamped) and the number of pages."""
    pages = max(1, math.ceil(len(presets) / STYLES_PER_PAGE))
    page = min(max(page, 1), pages)
    shown = presets[(page - 1) * STYLES_PER_PAGE : page * STYLES_PER_PAGE]
    lines = [f"**{p.name}** — {p.description or 'no description'}" for p in shown]
    embed = discord.Embed(title="Styles", description="\n".join(lines)[:4000])
    embed.set_footer(text=f"Page {page}/{pages} · use one with /imagine style:<name>")
    return embed, pages


class StylesPageButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"mstyles:(?P<page>\d{1,3}):(?P<label>prev|next)",
):
    """◀ / ▶ under /styles: the page is in the custom_id, so it works after a restart."""

    def __init__(self, page: int, label: str, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label="◀ Previous" if label == "prev" else "Next ▶",
                style=discord.ButtonStyle.secondary,
                custom_id=f"mstyles:{page}:{label}",
                disabled=disabled,
            )
        )
        self.page = page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> StylesPageButton:
        return cls(int(match["page"]), match["label"])

    async def callback(self, interaction: discord.Interaction) -> None:
        presets = await context(interaction).studio.styles(requester(interaction))
        embed, view = styles_message(presets, self.page)
        await interaction.response.edit_message(embed=embed, view=view)


def styles_message(presets: list[Any], page: int) -> tuple[discord.Embed, discord.ui.View]:
    embed, pages = styles_page(presets, page)
    page = min(max(page, 1), pages)
    view = discord.ui.View(timeout=None)
    if pages > 1:
        view.add_item(StylesPageButton(max(1, page - 1), "prev", disabled=page <= 1))
        view.add_item(StylesPageButton(min(pages, page + 1), "next", disabled=page >= pages))
    return embed, view


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


HELP_PROMPTS = """\
**Write the subject first**, then what makes it yours:
• **Subject** — who or what, doing what: *an old lighthouse keeper reading by a window*
• **Style** — medium and look: *oil painting*, *watercolor*, *35mm photo*, \
or `style:` a preset (`/styles`)
• **Lighting** — *golden hour*, *soft window light*, *neon*, *overcast*
• **Composition** — *close-up*, *wide shot*, *from above*, *rule of thirds*
Commas separate ideas; the first words weigh most. Fewer, concrete words beat long lists."""

HELP_WEIGHTS = """\
Make a part count more or less, in either syntax:
• A1111: `(red scarf:1.3)` stronger, `(background:0.7)` weaker, `(word)` ×1.1, `[word]` ×0.9
• compel: `(red scarf)1.3`, `red+`, `red++` stronger, `red-` weaker
Stay within about 0.5–1.5: beyond that, images fall apart."""

HELP_NEGATIVES = """\
The `negative` option lists what to keep out: *blurry, extra fingers, text, watermark*. \
Write it plainly (no "no"): the model steers away from every word there. \
Each model has a sensible default; a server may set its own in `/settings`."""

HELP_WILDCARDS = """\
`{red|blue|green} car` picks one choice per picture, so a grid of 4 shows variety. \
Same seed, same picks."""

HELP_EXAMPLE = """\
`/imagine prompt: an old lighthouse keeper reading by a window, (warm lamp light:1.2), \
oil painting, close-up, {rain|snow} outside negative: blurry, text, watermark aspect: 2:3`"""

HELP_BUTTONS = """\
**U1–U4** upscale one picture (twice the size) · **V1–V4** a subtle variation of one · \
**Upscale / Vary (subtle) / Vary (strong)** under a single picture, with **Zoom out 1.5× / 2×**, \
⬅️➡️⬆️⬇️ **pan** (a new border or strip is painted) and 🖌️ **Vary region** (choose a part, edit \
its prompt; `/region` takes your own mask) · 🔄 **reroll**: same \
settings, new seed · ✏️ **remix**: edit the prompt and paint again · 🗑️ **delete** (the \
requester and moderators) · ⚠️ **report** to the moderators. Right-click a result → \
**Apps → Use these settings** to start from its prompt and settings."""


def help_embed() -> discord.Embed:
    embed = discord.Embed(title="How to paint with Muralist")
    embed.add_field(name="A good prompt", value=HELP_PROMPTS, inline=False)
    embed.add_field(name="Weights", value=HELP_WEIGHTS, inline=False)
    embed.add_field(name="Negatives", value=HELP_NEGATIVES, inline=False)
    embed.add_field(name="Wildcards", value=HELP_WILDCARDS, inline=False)
    embed.add_field(name="A worked example", value=HELP_EXAMPLE, inline=False)
    embed.add_field(name="The buttons", value=HELP_BUTTONS, inline=False)
    embed.set_footer(text="Also: /region, /styles, /queue, /cancel, /info, /history, /preferences")
    return embed


def _bound(name: str) -> str:
    return describe(ImagineOptions, name, "-")


class SettingsModal(discord.ui.Modal, title="Use these settings"):
    """A result's prompt and settings, prefilled, to edit and paint again. Answered by
    ``bot.routing`` from its custom_id (the job) and its fields, so it works after a restart."""

    route: ClassVar[re.Pattern[str]] = re.compile(r"muralist:settings_modal:(?P<job>[0-9a-f]{32})")

    def __init__(self, job_id: str, options: ImagineOptions) -> None:
        super().__init__(custom_id=f"muralist:settings_modal:{job_id}", timeout=900)

        def field(
            label: str, value: str, key: str, *, long: bool = False, required: bool = True
        ) -> discord.ui.TextInput[SettingsModal]:
            item: discord.ui.TextInput[SettingsModal] = discord.ui.TextInput(
                default=value[:1500],
                custom_id=key,
                style=discord.TextStyle.paragraph if long else discord.TextStyle.short,
                max_length=1500 if long else 20,
                required=required,
            )
            self.add_item(discord.ui.Label(text=label, component=item))
            return item

        field("Prompt", options.prompt, "prompt", long=True)
        field("Negative prompt", options.negative or "", "negative", long=True, required=False)
        field(f"Steps ({_bound('steps')})", str(options.steps), "steps")
        field(f"CFG ({_bound('cfg')})", f"{options.cfg:g}", "cfg")
        seed = "" if options.seed is None else str(options.seed)
        field("Seed (empty: random)", seed, "seed", required=False)

    @staticmethod
    def options(base: ImagineOptions, values: dict[str, str]) -> ImagineOptions:
        """The edited values over the job's, checked with the option named in any error."""
        edited: dict[str, Any] = {
            "prompt": values.get("prompt", base.prompt),
            "negative": values.get("negative", base.negative or ""),
            "steps": _number("steps", values.get("steps", str(base.steps)), int),
            "cfg": _number("cfg", values.get("cfg", str(base.cfg)), float),
        }
        seed = values.get("seed", "" if base.seed is None else str(base.seed))
        edited["seed"] = _number("seed", seed, int) if seed.strip() else None
        return ImagineOptions.parse(**{**base.model_dump(), **edited})

    @classmethod
    async def submitted(
        cls, interaction: discord.Interaction, match: re.Match[str], values: dict[str, str]
    ) -> None:
        studio = context(interaction).studio
        options = cls.options(await studio.reuse(match["job"]), values)
        who = requester(interaction)
        await start_and_follow(
            interaction, lambda target: studio.submit(options, who, target, personal=False)
        )


def _number(option: str, text: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        word = "a whole number" if kind is int else "a number"
        raise InvalidRequest(option, f"{text!r} is not {word}") from None


def allowance_text(allowance: Allowance) -> str:
    """What a member has left and when it frees up, and their lane."""
    unit = "images" if allowance.unit == "images" else "GPU-seconds"
    lane = "⚡ fast lane" if allowance.lane == "fast" else "🐢 relax lane"
    if not allowance.windows:
        return f"no quota · {lane}"
    if allowance.exempt:
        return f"exempt from the quota · {lane}"
    lines = [
        f"{w.left:.0f} of {w.limit:.0f} {unit} left this {w.name}, renews <t:{int(w.ends)}:R>"
        for w in allowance.windows
    ]
    spent = any(w.left <= 0 for w in allowance.windows)
    if spent and allowance.fallback_to_relax:
        lane = "🐢 relax lane until it renews"
    return "\n".join([*lines, lane])


def _workers_summary(workers: list[WorkerInfo]) -> str:
    busy = sum(w.busy for w in workers)
    slots = sum(w.capacity for w in workers)
    return f"{len(workers)} alive · {busy}/{slots} busy"


class CommunityCog(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.use_settings = app_commands.ContextMenu(
            name="Use these settings", callback=self._use_settings
        )
        self.use_settings.guild_only = True

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.use_settings)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.use_settings.name, type=self.use_settings.type)

    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    @app_commands.command(name="styles", description="The style presets, one line each")
    @app_commands.describe(page="Page to show")
    async def styles(
        self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 100] = 1
    ) -> None:
        presets = await context(interaction).studio.styles(requester(interaction))
        embed, view = styles_message(presets, page)
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True)

    @app_commands.command(name="queue", description="Your jobs, the server's queue and the workers")
    @app_commands.guild_only()
    async def queue_command(self, interaction: discord.Interaction) -> None:
        view = await context(interaction).studio.queue_view(requester(interaction))
        lines = []
        for job in view.mine:
            where = (
                "🎨 painting now"
                if job.status == "running"
                else f"#{job.position + 1}, ready in about {_eta(job.eta_seconds)}"
                if job.position is not None
                else job.status
            )
            lines.append(f"• `{job.job_id[:8]}` {_short(job.prompt)} — {where}")
        embed = discord.Embed(title="Queue")
        embed.add_field(name="Your jobs", value="\n".join(lines)[:1024] or "none", inline=False)
        embed.add_field(name="Waiting in this server", value=str(view.waiting_here), inline=True)
        embed.add_field(name="Waiting in all", value=str(view.waiting), inline=True)
        embed.add_field(name="Workers", value=_workers_summary(view.workers), inline=True)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="cancel", description="Cancel one of your queued or running jobs")
    @app_commands.guild_only()
    @app_commands.describe(job="The job (default: your latest)")
    async def cancel(self, interaction: discord.Interaction, job: str | None = None) -> None:
        done = await context(interaction).studio.cancel(requester(interaction), job)
        short = done.job_id[:8]
        text = {
            "cancelled": f"✅ Job `{short}` cancelled.",
            "running": f"🛑 Job `{short}` stops at its next step.",
        }.get(done.status, f"Job `{short}` had already finished ({done.status}).")
        await interaction.response.send_message(text, ephemeral=True)

    @cancel.autocomplete("job")
    async def _cancel_jobs(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        mine = await context(interaction).studio.my_pending(requester(interaction))
        wanted = typed(current).casefold()
        choices = []
        for job in reversed(mine):
            name = f"{job.status}: {_short(job.prompt, 80)}"
            if wanted in name.casefold() or job.job_id.startswith(wanted):
                choices.append(app_commands.Choice(name=name[:100], value=job.job_id))
        return choices[:25]

    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    @app_commands.command(name="info", description="Models, devices, workers, queue and version")
    async def info(self, interaction: discord.Interaction) -> None:
        shown = await context(interaction).studio.instance(requester(interaction))
        workers = shown.workers
        embed = discord.Embed(title="Muralist")
        embed.add_field(
            name="Models",
            value=", ".join(f"**{m}**" if m == shown.default_model else m for m in shown.models)[
                :1024
            ]
            or "none",
            inline=False,
        )
        devices = sorted({w.device for w in workers})
        embed.add_field(name="Devices", value=", ".join(devices) or "none", inline=True)
        lines = [
            f"**{w.name}** · {w.device} · {w.busy}/{w.capacity} busy · "
            f"{', '.join(w.models) if w.models != ['*'] else 'any model'}"
            for w in workers
        ]
        embed.add_field(
            name=f"Workers ({_workers_summary(workers)})",
            value="\n".join(lines)[:1024] or "none alive: jobs wait until one starts",
            inline=False,
        )
        embed.add_field(name="Queue", value=f"{shown.waiting} waiting", inline=True)
        if shown.allowance is not None:
            embed.add_field(name="Your quota here", value=allowance_text(shown.allowance))
        embed.add_field(name="Version", value=version(), inline=True)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    @app_commands.command(name="help", description="How to write a good prompt, and the buttons")
    async def help(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(embed=help_embed(), ephemeral=True)

    async def _use_settings(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        job_id = None
        for row in message.components:
            for child in getattr(row, "children", []):
                match = _JOB_IN_ID.match(getattr(child, "custom_id", None) or "")
                if match:
                    job_id = match["job"]
        if job_id is None:
            raise InvalidRequest(
                "message", "this is not a Muralist result; pick a picture's message"
            )
        options = await context(interaction).studio.reuse(job_id)
        await send_form(interaction, SettingsModal(job_id, options))
