"""Results as Discord sees them: the attachments (fitted to the upload limit) and the embed.

A grid job is shown as one 2×2 (or 2×1) grid; the single images follow as their own PNG files,
which keep the ``parameters`` text chunk, when they fit. When a file is over the limit it is
re-encoded as WebP, then JPEG, then scaled down; when all of them do not fit, fewer are sent.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import discord
from PIL import Image

from studio import JobRecord, grid_png, repeat_png

_FIELD = 1024
EMBED_TOTAL = 6000  # all of an embed's texts together
_NOTES = "Prompt notes"
MAX_CONTENT = 2000  # a message's text
DEFAULT_FILESIZE_LIMIT = 10 * 1024 * 1024  # Discord's default upload limit per file


@dataclass(frozen=True)
class OutFile:
    filename: str
    data: bytes

    def to_discord(self) -> discord.File:
        return discord.File(io.BytesIO(self.data), filename=self.filename)


def _encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format=fmt, quality=quality)
    return buffer.getvalue()


def fit(name: str, png: bytes, limit: int) -> OutFile:
    """``png`` as it is when it fits, else the best re-encoding that does."""
    if len(png) <= limit:
        return OutFile(f"{name}.png", png)
    with Image.open(io.BytesIO(png)) as opened:
        image = opened.convert("RGB")
    tries: list[tuple[str, str, int]] = [("WEBP", "webp", q) for q in (90, 75, 55)]
    tries += [("JPEG", "jpg", q) for q in (85, 65, 45)]
    while True:
        for fmt, ext, quality in tries:
            data = _encode(image, fmt, quality)
            if len(data) <= limit:
                return OutFile(f"{name}.{ext}", data)
        if min(image.size) <= 16:
            raise ValueError(f"{name} cannot fit in {limit} bytes")
        image = image.resize((image.width * 3 // 4, image.height * 3 // 4))


def result_files(job: JobRecord, limit: int) -> list[OutFile]:
    """The main picture (grid or single image) first, then the single PNGs that still fit."""
    if not job.images:
        return []
    spoiler = "SPOILER_" if any(image.spoiler for image in job.images) else ""
    tile = job.request.tile  # shown repeated 2×2, so the seam that is not there can be seen
    if len(job.images) == 1 and not tile:
        return [fit(f"{spoiler}muralist_{job.images[0].seed}", job.images[0].png, limit)]
    shown = [repeat_png(image.png) if tile else image.png for image in job.images]
    grid = shown[0] if len(shown) == 1 else grid_png(shown)
    kind = "tiled" if tile else "grid"
    files = [fit(f"{spoiler}muralist_{kind}_{job.images[0].seed}", grid, limit)]
    used = len(files[0].data)
    for image in job.images:
        if used + len(image.png) > limit:
            break
        prefix = "SPOILER_" if image.spoiler else ""
        files.append(OutFile(f"{prefix}muralist_{image.seed}.png", image.png))
        used += len(image.png)
    return files


def clip(text: str, limit: int = _FIELD) -> str:
    """``text`` cut to ``limit`` characters (an embed field's by default), marked with "…"."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def image_size(png: bytes) -> tuple[int, int]:
    """The real size of an image (its header only is read)."""
    with Image.open(io.BytesIO(png)) as opened:
        return opened.size


_TITLES = {
    "upscale": "Upscaled",
    "vary_subtle": "Variation",
    "vary_strong": "Variation",
    "zoom_out_1.5": "Zoomed out ×1.5",
    "zoom_out_2": "Zoomed out ×2",
    "pan_left": "Panned ⬅️",
    "pan_right": "Panned ➡️",
    "pan_up": "Panned ⬆️",
    "pan_down": "Panned ⬇️",
    "vary_region": "Region varied",
    "region": "Region repainted",
}


def result_embed(
    job: JobRecord, main_file: OutFile | None, warnings: Sequence[str] = ()
) -> discord.Embed:
    """Every setting of the job, the size its images really have (an upscale's follows the
    family's rule), and the prompt's notes (token counts, warnings)."""
    request = job.request
    seeds = ", ".join(str(image.seed) for image in job.images) or "?"
    title = _TITLES.get(job.action, "Painted")
    if job.action == "upscale" and request.mode != "upscale":
        title = "Repainted by the full model"  # a draft's U button (from its picture, if any)
    embed = discord.Embed(title=title, description=clip(request.prompt, 4000))
    if request.negative_prompt:
        embed.add_field(name="Negative", value=clip(request.negative_prompt), inline=False)
    width, height = image_size(job.images[0].png) if job.images else (0, 0)
    size = f"{width}×{height}" if job.images else f"{request.width}×{request.height}"
    for name, value in (
        ("Seeds" if len(job.images) > 1 else "Seed", seeds),
        ("Steps", str(request.steps)),
        ("CFG", f"{request.guidance:g}"),
        ("Scheduler", request.scheduler),
        ("Model", request.model),
        ("Size", size),
        ("Time", f"{job.seconds:.1f} s" if job.seconds is not None else "?"),
    ):
        embed.add_field(name=name, value=clip(value), inline=True)
    if request.subseed is not None:
        embed.add_field(
            name="Variation", value=f"{request.subseed} @ {request.subseed_strength:g}", inline=True
        )
    if request.loras:
        loras = ", ".join(f"{lora.name}:{lora.weight:g}" for lora in request.loras)
        embed.add_field(name="LoRAs", value=clip(loras), inline=True)
    if request.references:
        guides = ", ".join(f"{r.kind} {r.weight:g}" for r in request.references)
        embed.add_field(name="References", value=guides, inline=True)
    if request.control is not None:
        control = f"{request.control.mode} {request.control.scale:g}"
        embed.add_field(name="ControlNet", value=control, inline=True)
    if request.mode == "img2img":
        embed.add_field(name="From a picture", value=f"strength {request.strength:g}", inline=True)
    if request.tile:
        embed.add_field(name="Tile", value="seamless; shown repeated 2×2", inline=True)
    if main_file is not None and not main_file.filename.startswith("SPOILER_"):
        embed.set_image(url=f"attachment://{main_file.filename}")  # a spoiler stays a file
    embed.set_footer(text=f"job {job.job_id}")
    room = min(_FIELD, EMBED_TOTAL - len(embed) - len(_NOTES))  # a long prompt leaves less
    if warnings and room > 40:
        notes = "\n".join(f"⚠️ {w}" for w in warnings[:5])
        embed.add_field(name=_NOTES, value=clip(notes, room), inline=False)
    return embed


def discord_time(when: datetime, style: str = "f") -> str:
    """A timestamp every Discord client shows in the reader's own time zone."""
    return f"<t:{int(when.timestamp())}:{style}>"


def queued_text(
    position: int,
    eta_seconds: float,
    warnings: list[str],
    now: float | None = None,
    lane: str | None = None,
) -> str:
    """The place and a relative timestamp: Discord counts it down in every client, so the few
    position edits a waiting job gets (at most four) still show a live ETA. In the relax lane
    the ETA holds only while no fast-lane job arrives (those go first), and the text says so."""
    place = "next in line" if position == 0 else f"#{position + 1} in the queue"
    ready = int((time.time() if now is None else now) + eta_seconds)
    if lane == "relax":
        text = (
            f"⏳ Queued in the 🐢 relax lane: {place}, ready <t:{ready}:R> "
            "if no fast-lane job arrives first."
        )
    else:
        where = " in the ⚡ fast lane" if lane == "fast" else ""
        text = f"⏳ Queued{where}: {place}, ready <t:{ready}:R>."
    return _with_warnings(text, warnings)


def progress_text(step: int, total: int, warnings: list[str]) -> str:
    if total <= 0:
        return _with_warnings("🎨 Painting…", warnings)
    filled = round(10 * step / total)
    bar = "█" * filled + "░" * (10 - filled)
    return _with_warnings(f"🎨 Painting… step {step}/{total} `{bar}`", warnings)


def _with_warnings(text: str, warnings: list[str]) -> str:
    lines = [text, *(f"⚠️ {w}" for w in warnings[:5])]
    return clip("\n".join(lines), MAX_CONTENT)


def render_result(
    job: JobRecord, limit: int, warnings: Sequence[str] = ()
) -> tuple[list[OutFile], discord.Embed]:
    files = result_files(job, limit)
    return files, result_embed(job, files[0] if files else None, warnings)
