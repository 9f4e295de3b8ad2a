"""One mapping from studio's errors to short ephemeral messages that say what to change.

Used by the command tree, the buttons and the modals alike, so a user never sees "The application
did not respond" and never a traceback; unexpected errors are logged with theirs.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import discord
from discord import app_commands

from bot.boundary import check_options, completes, leaf_options
from bot.render import MAX_CONTENT, clip
from studio.errors import (
    FIELD_ERRORS,
    GenerationError,
    InvalidRequest,
    JobNotFound,
    NotAllowed,
    PromptBlocked,
    Refusal,
    Refused,
    StorageUnwritable,
)

log = logging.getLogger(__name__)

STALE = (
    "⌛ This button or form belongs to a message the bot no longer handles (an older version, "
    "or it was changed); run the command again."
)
OUTDATED_COMMAND = (
    "⌛ This command changed since your Discord app loaded it; reload Discord (Ctrl+R) and try "
    "again."
)


class Denied(app_commands.CheckFailure):
    """Studio refused the member in a command's check (e.g. not a moderator): a check must raise
    a ``CheckFailure`` for discord.py to hand it to the tree's error handler."""

    def __init__(self, refused: Refused) -> None:
        super().__init__(str(refused))
        self.refused = refused


def user_message(error: BaseException) -> str:
    """The one or two sentences a user sees for ``error``, within a message's length (an error
    may quote a long list, e.g. "not listed (listed: …)")."""
    return clip(_message(error), MAX_CONTENT)


def _message(error: BaseException) -> str:
    if isinstance(error, app_commands.CommandInvokeError) and error.__cause__ is not None:
        return _message(error.__cause__)
    if isinstance(error, Denied):
        return _message(error.refused)
    if isinstance(error, PromptBlocked):
        return f"🚫 {error.reason}"
    if isinstance(error, Refusal):
        return f"⏳ {error.message}"
    if isinstance(error, Refused | NotAllowed):
        return f"🚫 {error}"
    if isinstance(error, JobNotFound):
        return "🗂️ That job is no longer stored (or never was)."
    if isinstance(error, FIELD_ERRORS):
        field = getattr(error, "field", "option")
        message = getattr(error, "message", None) or str(error)
        if message.startswith(f"{field}: "):
            message = message[len(field) + 2 :]
        return f"❌ `{field}`: {message}"
    if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
        return OUTDATED_COMMAND
    if isinstance(error, app_commands.TransformerError):
        return f"❌ `{error.value}` is not a valid value here."
    if isinstance(error, app_commands.MissingPermissions):
        return "🚫 You need the " + ", ".join(error.missing_permissions) + " permission for this."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"⏳ Slow down: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.CheckFailure):
        return "🚫 You cannot use this command here."
    if isinstance(error, StorageUnwritable):  # the path is the operator's business
        return (
            f"⚠️ The bot cannot save anything right now: {error.summary}. "
            "Please tell the server's admins; try again later."
        )
    if isinstance(error, GenerationError):
        return f"⚠️ {error}"
    return "⚠️ Something went wrong on our side; please try again in a moment."


async def report_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Tell the user, ephemerally, whatever state the interaction is in."""
    cause = error.__cause__ if isinstance(error, app_commands.CommandInvokeError) else error
    if isinstance(cause, StorageUnwritable):  # named, no traceback: nothing to debug
        log.error("storage: %s", cause)
    elif user_message(cause or error).startswith("⚠️ Something"):
        log.error("unexpected error in an interaction", exc_info=cause or error)
    text = user_message(error)
    try:
        if interaction.type is discord.InteractionType.autocomplete:
            if not interaction.response.is_done():  # choices are its only possible answer
                await interaction.response.autocomplete([])
            return
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True)
            return
        if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
            # The public "thinking…" message would stay forever: replace it by a private note.
            with contextlib.suppress(discord.HTTPException):
                await interaction.delete_original_response()
        await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell the user about %r", error)


class MuralistTree(app_commands.CommandTree):
    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """The options against the command's declaration, before the command runs (see
        ``bot.boundary``); a breach is answered here with the option it is about."""
        data: Any = interaction.data or {}
        if interaction.type is discord.InteractionType.autocomplete:
            return await _completable(interaction, data)
        if interaction.type is not discord.InteractionType.application_command:
            return True
        if data.get("type", 1) != 1:
            return True  # a context menu: no options
        try:
            options = leaf_options(data)  # first: discord.py reads the shape to find the command
            command = interaction.command
            if isinstance(command, app_commands.Command):
                check_options(command, options)
        except InvalidRequest as exc:
            await report_error(interaction, exc)
            return False
        return True

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await report_error(interaction, error)


async def _completable(interaction: discord.Interaction, data: Any) -> bool:
    """An autocomplete for a declared, completed option goes on; any other gets no choices."""
    try:
        options = leaf_options(data)
        command = interaction.command
        if isinstance(command, app_commands.Command) and completes(command, options):
            return True
    except InvalidRequest:
        pass
    with contextlib.suppress(discord.HTTPException):
        await interaction.response.autocomplete([])
    return False
