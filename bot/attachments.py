"""A member's attached file, fetched from Discord's CDN only once its declared size is allowed.

Discord tells the size of an attachment in the interaction (``data.resolved.attachments``), so a
file over the limit is refused by that number, before a byte is downloaded; the download itself
is capped too, in case the CDN serves more than was declared. What the bytes hold is
``studio.image_inputs``' business (``Studio.read_picture``).
"""

from __future__ import annotations

import discord

from studio.errors import InvalidRequest


def upload_limit(interaction: discord.Interaction, cap: int) -> int:
    """The most bytes an attachment may have here: the guild's upload limit (its boost tier),
    the interaction's own ``attachment_size_limit`` and the instance's ``cap``, the lowest."""
    limits = [cap, interaction.filesize_limit]
    if interaction.guild is not None:
        limits.append(interaction.guild.filesize_limit)
    return min(limits)


def check_size(attachment: discord.Attachment, *, field: str, limit_bytes: int) -> None:
    """``InvalidRequest`` on ``field`` when the declared size is over ``limit_bytes``: cheap,
    so a command checks it before it answers Discord (the refusal stays private)."""
    if attachment.size > limit_bytes:
        raise InvalidRequest(
            field, f"the file is {_mib(attachment.size)}; attach at most {_mib(limit_bytes)}"
        )


async def read_attachment(attachment: discord.Attachment, *, field: str, limit_bytes: int) -> bytes:
    """The attachment's bytes, or ``InvalidRequest`` on ``field`` when its declared size is over
    ``limit_bytes`` (refused without downloading) or the download fails or grows past it."""
    check_size(attachment, field=field, limit_bytes=limit_bytes)
    try:
        data = await attachment.read()
    except (discord.HTTPException, discord.NotFound) as exc:
        raise InvalidRequest(
            field, f"the file could not be downloaded from Discord ({exc}); attach it again"
        ) from None
    if len(data) > limit_bytes:
        raise InvalidRequest(
            field, f"the file is {_mib(len(data))}; attach at most {_mib(limit_bytes)}"
        )
    return data


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"
