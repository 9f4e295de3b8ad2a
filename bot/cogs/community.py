"""Members' commands beside ``/imagine``: ``/styles``, ``/queue``, ``/cancel``, ``/info``, ``/help``
and the "Use these settings" message command on a result.

Everything here reads: the presets (prompting), the queue (positions, ETAs, workers), the catalog
and the guild's settings; ``/cancel`` and the modal act through the queue and the service.
"""

from __future__ import annotations

import asyncio
import math
import re
from importlib import metadata
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.actions import requester, start_and_follow
from bot.community import Community
from bot.errors import report_error
from generation.errors import InvalidRequest
from generation.queue import Job, JobStatus, QueueService
from generation.requests import MAX_GUIDANCE, MAX_STEPS, SEED_MAX
from generation.sizes import ASPECTS
from generation.studio_types import ImagineOptions
from prompting import PresetLibrary, load_library

STYLES_PER_PAGE = 10
_JOB_IN_ID = re.compile(r"^muralist:[a-z_]+:(?P<job>[0-9a-f]{32})")
_PENDING = (JobStatus.QUEUED, JobStatus.RUNNING)


def version() -> str:
    try:
        return metadata.version("muralist")
    except metadata.PackageNotFoundError:
        return "development checkout"


def styles_page(library: PresetLibrary, page: int) -> tuple[discord.Embed, int]:
    """One page of presets (1-based, clamped) and the number of pages."""
    presets = list(library)
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
        bot: commands.Bot = interaction.client  # type: ignore[assignment]
        cog = bot.get_cog("CommunityCog")
        assert isinstance(cog, CommunityCog)
        embed, view = cog.styles_message(self.page)
        await interaction.response.edit_message(embed=embed, view=view)


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def closest_aspect(width: int, height: int) -> str:
    ratio = width / height

    def distance(aspect: str) -> float:
        w, h = (int(x) for x in aspect.split(":"))
        return abs(math.log(ratio / (w / h)))

    return min(ASPECTS, key=distance)


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
**Upscale / Vary (subtle) / Vary (strong)** under a single picture · 🔄 **reroll**: same \
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
    embed.set_footer(text="Also: /styles, /queue, /cancel, /info")
    return embed


class SettingsModal(discord.ui.Modal, title="Use these settings"):
    """A result's prompt and settings, prefilled, to edit and paint again."""

    def __init__(self, community: Community, job: Job) -> None:
        super().__init__(custom_id=f"muralist:settings_modal:{job.id}", timeout=900)
        self.community = community
        self.job = job
        request = job.request

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

        self.prompt = field("Prompt", request.prompt, "prompt", long=True)
        self.negative = field(
            "Negative prompt", request.negative_prompt, "negative", long=True, required=False
        )
        self.steps = field(f"Steps (1-{MAX_STEPS})", str(request.steps), "steps")
        self.cfg = field(f"CFG (0-{MAX_GUIDANCE:g})", f"{request.guidance:g}", "cfg")
        seed = "" if request.seed is None else str(request.seed)
        self.seed = field("Seed (empty: random)", seed, "seed", required=False)

    def options(self) -> ImagineOptions:
        """The edited values, checked with the field named in any error."""
        try:
            steps = int(self.steps.value)
        except ValueError:
            raise InvalidRequest("steps", f"{self.steps.value!r} is not a whole number") from None
        if not 1 <= steps <= MAX_STEPS:
            raise InvalidRequest("steps", f"must be 1..{MAX_STEPS}, got {steps}")
        try:
            cfg = float(self.cfg.value)
        except ValueError:
            raise InvalidRequest("cfg", f"{self.cfg.value!r} is not a number") from None
        if not 0.0 <= cfg <= MAX_GUIDANCE:
            raise InvalidRequest("cfg", f"must be 0..{MAX_GUIDANCE:g}, got {cfg:g}")
        seed: int | None = None
        if self.seed.value.strip():
            try:
                seed = int(self.seed.value)
            except ValueError:
                raise InvalidRequest("seed", f"{self.seed.value!r} is not a whole number") from None
            if not 0 <= seed <= SEED_MAX:
                raise InvalidRequest("seed", f"must be 0..{SEED_MAX}, got {seed}")
        request = self.job.request
        return ImagineOptions(
            prompt=self.prompt.value,
            negative=self.negative.value,
            steps=steps,
            cfg=cfg,
            seed=seed,
            count=request.count,
            model=request.model,
            scheduler=request.scheduler,
            aspect=closest_aspect(request.width, request.height),
        )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        options = self.options()
        who = requester(interaction)
        service = self.community.service
        await start_and_follow(interaction, lambda: service.submit(options, who))

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await report_error(interaction, error)


class CommunityCog(commands.Cog):
    def __init__(self, bot: commands.Bot, community: Community) -> None:
        self.bot = bot
        self.community = community
        self.library = load_library(community.settings.prompting.presets_file)
        self.use_settings = app_commands.ContextMenu(
            name="Use these settings", callback=self._use_settings
        )
        self.use_settings.guild_only = True

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.use_settings)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.use_settings.name, type=self.use_settings.type)

    # -- helpers ----------------------------------------------------------------------------
    @property
    def queue(self) -> QueueService:
        return self.community.queue_service.queue

    def _pending(self) -> list[Job]:
        return self.queue.store.by_status(*_PENDING)

    def _workers_summary(self) -> str:
        workers = self.queue.workers()
        busy = sum(w.busy for w in workers)
        slots = sum(w.capacity for w in workers)
        return f"{len(workers)} alive · {busy}/{slots} busy"

    def styles_message(self, page: int) -> tuple[discord.Embed, discord.ui.View]:
        embed, pages = styles_page(self.library, page)
        page = min(max(page, 1), pages)
        view = discord.ui.View(timeout=None)
        if pages > 1:
            view.add_item(StylesPageButton(max(1, page - 1), "prev", disabled=page <= 1))
            view.add_item(StylesPageButton(min(pages, page + 1), "next", disabled=page >= pages))
        return embed, view

    # -- commands ---------------------------------------------------------------------------
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    @app_commands.command(name="styles", description="The style presets, one line each")
    @app_commands.describe(page="Page to show")
    async def styles(
        self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 100] = 1
    ) -> None:
        embed, view = self.styles_message(page)
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True)

    @app_commands.command(name="queue", description="Your jobs, the server's queue and the workers")
    @app_commands.guild_only()
    async def queue_command(self, interaction: discord.Interaction) -> None:
        pending = await asyncio.to_thread(self._pending)
        user, guild = str(interaction.user.id), str(interaction.guild_id or 0)
        lines = []
        for job in (j for j in pending if j.user_id == user and j.guild_id == guild):
            ticket = self.queue.ticket(job.id)
            where = (
                "🎨 painting now"
                if job.status is JobStatus.RUNNING
                else f"#{ticket.position + 1}, ready in about {_eta(ticket.eta_seconds)}"
                if ticket is not None
                else job.status.value
            )
            lines.append(f"• `{job.id[:8]}` {_short(job.request.prompt)} — {where}")
        in_guild = sum(1 for j in pending if j.guild_id == guild and j.status is JobStatus.QUEUED)
        embed = discord.Embed(title="Queue")
        embed.add_field(name="Your jobs", value="\n".join(lines)[:1024] or "none", inline=False)
        embed.add_field(name="Waiting in this server", value=str(in_guild), inline=True)
        embed.add_field(name="Waiting in all", value=str(self.queue.queue_length()), inline=True)
        embed.add_field(name="Workers", value=self._workers_summary(), inline=True)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="cancel", description="Cancel one of your queued or running jobs")
    @app_commands.guild_only()
    @app_commands.describe(job="The job (default: your latest)")
    async def cancel(self, interaction: discord.Interaction, job: str | None = None) -> None:
        user = str(interaction.user.id)
        mine = [j for j in await asyncio.to_thread(self._pending) if j.user_id == user]
        if job is None:
            if not mine:
                raise InvalidRequest("job", "you have no queued or running jobs")
            job = mine[-1].id
        matches = [j.id for j in mine if j.id.startswith(job.strip())] or [job.strip()]
        status = await self.queue.cancel(
            matches[0], user_id=user, is_moderator=requester(interaction).is_moderator
        )
        text = {
            JobStatus.CANCELLED: f"✅ Job `{matches[0][:8]}` cancelled.",
            JobStatus.RUNNING: f"🛑 Job `{matches[0][:8]}` stops at its next step.",
        }.get(status, f"Job `{matches[0][:8]}` had already finished ({status.value}).")
        await interaction.response.send_message(text, ephemeral=True)

    @cancel.autocomplete("job")
    async def _cancel_jobs(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        user = str(interaction.user.id)
        mine = [j for j in await asyncio.to_thread(self._pending) if j.user_id == user]
        wanted = current.casefold()
        choices = []
        for job in reversed(mine):
            name = f"{job.status.value}: {_short(job.request.prompt, 80)}"
            if wanted in name.casefold() or job.id.startswith(wanted):
                choices.append(app_commands.Choice(name=name[:100], value=job.id))
        return choices[:25]

    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    @app_commands.command(name="info", description="Models, devices, workers, queue and version")
    async def info(self, interaction: discord.Interaction) -> None:
        settings = self.community.settings
        guild = await asyncio.to_thread(self.community.guilds.get, interaction.guild_id or 0)
        models = await self.community.service.choices("model", requester(interaction))
        default = guild.default_model or settings.engine.default_model
        workers = self.queue.workers()
        embed = discord.Embed(title="Muralist")
        embed.add_field(
            name="Models",
            value=", ".join(f"**{m}**" if m == default else m for m in models)[:1024] or "none",
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
            name=f"Workers ({self._workers_summary()})",
            value="\n".join(lines)[:1024] or "none alive: jobs wait until one starts",
            inline=False,
        )
        embed.add_field(name="Queue", value=f"{self.queue.queue_length()} waiting", inline=True)
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
        job = await asyncio.to_thread(self.queue.get, job_id)
        await interaction.response.send_modal(SettingsModal(self.community, job))
