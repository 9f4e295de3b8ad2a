"""Start-up wiring of part 2: guild settings, the moderation record, the guarded service, the
community, settings and moderator cogs, and the moderation log's buttons.

``build_community`` runs once beside the queue (same SQLite file, each package its own tables);
``install`` runs in the client's ``setup_hook``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.guild_settings import GuildSettingsStore
from bot.moderation import GuardedService
from generation.studio import Studio
from safety import ModerationRecord

if TYPE_CHECKING:
    from bot.client import MuralistBot


@dataclass
class Community:
    settings: Settings
    queue_service: Studio
    guilds: GuildSettingsStore
    service: GuardedService

    @property
    def record(self) -> ModerationRecord:
        return self.service.record

    def close(self) -> None:
        self.guilds.close()


def build_community(settings: Settings, queue_service: Studio) -> Community:
    """The guild settings on the queue's SQLite file and the service that applies them."""
    guilds = GuildSettingsStore(
        settings.queue.db_path, queue_service.catalog.names, queue_service.record
    )
    service = GuardedService(queue_service, guilds)
    return Community(settings, queue_service, guilds, service)


async def install(bot: MuralistBot, community: Community) -> None:
    """Add the cogs and the persistent moderation buttons; let the service reach the log."""
    from bot.cogs.community import CommunityCog, StylesPageButton
    from bot.cogs.mod import ModCog
    from bot.cogs.settings import SettingsCog
    from bot.modlog import ModButton, ModLog

    modlog = ModLog(bot, community.service, community.guilds)
    bot.modlog = modlog
    community.service.modlog = modlog
    await bot.add_cog(CommunityCog(bot, community))
    await bot.add_cog(SettingsCog(community))
    await bot.add_cog(ModCog(community))
    bot.add_dynamic_items(ModButton, StylesPageButton)
