"""The Discord client: cogs, persistent buttons and command sync at start-up; no privileged intents.

It only needs the ``guilds`` intent (channels and roles for permissions and NSFW flags);
interactions arrive without any intent, and message content is never read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import discord
from discord.ext import commands

from bot import actions
from bot.actions import RegionModal, RegionSelect, RemixModal
from bot.cogs.community import CommunityCog, SettingsModal, StylesPageButton
from bot.cogs.history import HistoryCog, HistoryPageButton, UseSettingsButton
from bot.cogs.imagine import ImagineCog
from bot.cogs.mod import ModCog
from bot.cogs.preferences import PreferencesCog
from bot.cogs.region import RegionCog
from bot.cogs.settings import SettingsCog
from bot.config import DiscordConfig
from bot.delivery import Delivery, Target
from bot.errors import MuralistTree
from bot.modlog import BanModal, ModButton, ModLogPoster
from bot.render import DEFAULT_FILESIZE_LIMIT
from bot.replies import OriginalReply
from bot.routing import Router
from bot.views import ResultButton
from studio import Studio, Submitted

log = logging.getLogger(__name__)


def intents() -> discord.Intents:
    wanted = discord.Intents.none()
    wanted.guilds = True
    return wanted


BUTTONS = (
    ResultButton,
    ModButton,
    StylesPageButton,
    HistoryPageButton,
    UseSettingsButton,
    RegionSelect,
)
"""Every kind of button (and menu) the bot sends: each survives restarts (its custom_id says it
all)."""
FORMS = (RemixModal, SettingsModal, BanModal, RegionModal)
"""Every form the bot shows: answered by ``bot.routing`` from the custom_id and the fields."""


class MuralistBot(commands.Bot):
    def __init__(self, studio: Studio, config: DiscordConfig, **options: Any) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            tree_cls=MuralistTree,
            help_command=None,
            # No send pings anyone unless it says so (the result post names its requester).
            allowed_mentions=discord.AllowedMentions.none(),
            # Every command says where it runs (contexts, integration_types), not only the
            # deprecated dm_permission: installed to guilds, run in guilds unless it opts in.
            allowed_installs=discord.app_commands.AppInstallationType(guild=True, user=False),
            allowed_contexts=discord.app_commands.AppCommandContext(
                guild=True, dm_channel=False, private_channel=False
            ),
            **options,
        )
        self.studio = studio
        self.config = config
        self._tasks: set[asyncio.Task[Any]] = set()
        self.synced: list[discord.app_commands.AppCommand] = []
        self._acks_pending = 0
        self._acks_done = asyncio.Event()
        self._acks_done.set()
        self._poster: asyncio.Task[None] | None = None
        self.router = Router(BUTTONS, FORMS)

    async def setup_hook(self) -> None:
        cogs = (
            ImagineCog(),
            CommunityCog(self),
            SettingsCog(),
            ModCog(),
            HistoryCog(self),
            PreferencesCog(),
            RegionCog(),
        )
        for cog in cogs:
            await self.add_cog(cog)
        self.add_dynamic_items(*BUTTONS)
        poster = ModLogPoster(self, self.studio)
        self._poster = asyncio.create_task(poster.run(), name="moderators-log")
        await self._adopt_orphans()
        if self.config.sync_guild_id is not None:
            guild = discord.Object(self.config.sync_guild_id)
            self.tree.copy_global_to(guild=guild)
            self.synced = await self.tree.sync(guild=guild)
        else:
            self.synced = await self.tree.sync()
        log.info("synced %d commands", len(self.synced))

    @contextlib.contextmanager
    def acknowledging(self) -> Iterator[None]:
        """Around a first response: while any is under way, ``acks_first`` holds other work."""
        self._acks_pending += 1
        self._acks_done.clear()
        try:
            yield
        finally:
            self._acks_pending -= 1
            if not self._acks_pending:
                self._acks_done.set()

    async def acks_first(self, patience: float = 1.0) -> None:
        """Wait (at most ``patience`` s) until no first response is pending.

        A burst of interactions arrives together; answering all of them before anyone's
        heavier work (prompt parsing, safety, the queue) keeps every answer within Discord's 3 s.
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._acks_done.wait(), patience)

    async def _adopt_orphans(self) -> None:
        """Follow the jobs a previous run left: their original replies are finished through
        the tokens studio kept (or the channel), and a result posted just before the restart
        is found, not posted again. Runs in ``setup_hook``, before any interaction of this run
        can create a job of its own."""
        orphans = await self.studio.orphans()
        for orphan in orphans:
            target = Target(self, orphan.channel_id, orphan.user_id, DEFAULT_FILESIZE_LIMIT)
            reply = OriginalReply(
                self,
                orphan.channel_id,
                orphan.target,
                usable_for=self.config.token_lifetime_seconds,
            )
            submitted = Submitted(orphan.job_id, 0, 0.0)
            delivery = Delivery(
                reply, target, self.studio, self.config, submitted, ended_before=orphan.ended
            )
            self.track(asyncio.create_task(delivery.run(), name=f"deliver-{orphan.job_id}"))
        if orphans:
            log.info("delivering %d jobs left by the previous run", len(orphans))

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """After discord.py's own dispatch: forms, and clicks nothing else answers."""
        await self.router.route(interaction)

    def track(self, task: asyncio.Task[Any]) -> None:
        """Keep a background task alive until it ends (and cancel it on close)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def on_result_button(
        self, interaction: discord.Interaction, action: str, job_id: str, index: int | None
    ) -> None:
        await actions.on_button(interaction, action, job_id, index)

    async def idle(self) -> None:
        """Until every delivery under way has finished (tests and the demo wait on this)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in [*self._tasks, *([self._poster] if self._poster else [])]:
            task.cancel()
        await super().close()
