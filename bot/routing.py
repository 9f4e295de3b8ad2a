"""Every button and form the bot has ever sent gets an answer, in any run of the bot.

discord.py hands a click to a ``DynamicItem`` whose template matches its custom_id, and only when
that custom_id is on the clicked message (discord.py 2.7.1, ``ViewStore``); a submitted form it
hands only to the ``Modal`` instance this process sent. After a restart, for a component of an
older version of the bot, or for a forged payload, nothing would answer, and the member would see
"The application did not respond".

So forms are routed here by their custom_id, with no instance kept (a form opened before a restart
still works: what it needs is in its custom_id and its fields), and a click that no
``DynamicItem`` takes gets a short ephemeral answer. The client calls ``Router.route`` from
``on_interaction``, which discord.py runs for every interaction after its own dispatch.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

import discord

from bot.errors import STALE, report_error

log = logging.getLogger(__name__)


class Form(Protocol):
    """A modal the router answers: ``route`` matches its custom_id; ``submitted`` acts on the
    fields' values (custom_id → text)."""

    route: ClassVar[re.Pattern[str]]

    @classmethod
    async def submitted(
        cls, interaction: discord.Interaction, match: re.Match[str], values: dict[str, str]
    ) -> None: ...


async def send_form(interaction: discord.Interaction, modal: discord.ui.Modal) -> None:
    """Show ``modal`` without discord.py keeping it: the router answers its submission."""
    modal.stop()  # a finished modal is not stored by ``send_modal``
    await interaction.response.send_modal(modal)


def form_values(data: Any) -> dict[str, str]:
    """A submitted form's values by field custom_id, from Label rows (type 18) or the older
    action rows (type 1); anything malformed is left out."""
    values: dict[str, str] = {}
    rows = data.get("components") if isinstance(data, dict) else None
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        inner = [row.get("component")] if row.get("type") == 18 else row.get("components")
        for field in inner if isinstance(inner, list) else []:
            if isinstance(field, dict) and isinstance(field.get("custom_id"), str):
                value = field.get("value")
                values[field["custom_id"]] = value if isinstance(value, str) else ""
    return values


class Router:
    """Answers what discord.py's own routing would leave unanswered."""

    def __init__(
        self,
        buttons: Sequence[type[discord.ui.DynamicItem[Any]]],
        forms: Sequence[type[Form]],
    ) -> None:
        self.templates = [item.__discord_ui_compiled_template__ for item in buttons]
        self.forms = list(forms)

    async def route(self, interaction: discord.Interaction) -> None:
        if interaction.type is discord.InteractionType.component:
            if not self.claimed(interaction):
                await _answer_stale(interaction)
        elif interaction.type is discord.InteractionType.modal_submit:
            await self._submit(interaction)

    def claimed(self, interaction: discord.Interaction) -> bool:
        """Whether discord.py hands this click to one of the bot's ``DynamicItem``s: a template
        matches the custom_id, and the clicked message carries a component of that type and id
        (discord.py ignores the click otherwise)."""
        data: Any = interaction.data or {}
        custom_id, kind = data.get("custom_id"), data.get("component_type")
        if not isinstance(custom_id, str) or interaction.message is None:
            return False
        if not any(t.fullmatch(custom_id) for t in self.templates):
            return False
        return any(
            getattr(child, "custom_id", None) == custom_id and child.type.value == kind
            for row in interaction.message.components
            for child in getattr(row, "children", [row])
        )

    async def _submit(self, interaction: discord.Interaction) -> None:
        data: Any = interaction.data or {}
        custom_id = data.get("custom_id") if isinstance(data, dict) else None
        try:
            for form in self.forms:
                match = form.route.fullmatch(custom_id) if isinstance(custom_id, str) else None
                if match is not None:
                    await form.submitted(interaction, match, form_values(data))
                    break
        except Exception as exc:
            await report_error(interaction, exc)
        if not interaction.response.is_done():
            await _answer_stale(interaction)


async def _answer_stale(interaction: discord.Interaction) -> None:
    data: Any = interaction.data or {}
    log.info("answered a stale %s: %r", interaction.type.name, data.get("custom_id"))
    try:
        await interaction.response.send_message(STALE, ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("could not answer a stale interaction: %s", exc)
