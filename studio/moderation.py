"""The moderation workflow: who moderates, bans with durations, the record's entries and what the
moderators' log hears.

Studio decides; the front end only shows. Entries for the log become ``LogNotice``s on the
studio's notice stream (the bot posts them to the guild's log channel), so nothing here waits on
Discord and nothing is lost when the log cannot be posted: the record already holds the entry.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Literal

from safety import Ban, ModerationEntry, ModerationRecord
from studio.deliveries import DeliveryRecord
from studio.errors import InvalidSetting, ModeratorsOnly, Refused
from studio.guild_settings import GuildSettings, GuildSettingsStore
from studio.types import LogNotice, Notice, Requester

DURATION_RE = re.compile(r"^\s*(\d{1,5})\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_DURATION = timedelta(days=3650)
Decision = Literal["approve", "remove", "reject", "dismiss"]


def _bad_duration(text: str) -> InvalidSetting:
    return InvalidSetting(
        "duration",
        f"{text!r} is not a duration; use a number and m, h, d or w (30m, 12h, 7d, 2w), "
        "at most 3650 days, or leave it empty for a ban with no end",
    )


def parse_duration(text: str | None) -> timedelta | None:
    """``30m``, ``12h``, ``7d``, ``2w`` → a timedelta; empty → None (no end)."""
    if text is None or not text.strip():
        return None
    match = DURATION_RE.match(text)
    if match is None:
        raise _bad_duration(text)
    duration = timedelta(seconds=int(match[1]) * _UNITS[match[2].lower()])
    if not timedelta(0) < duration <= MAX_DURATION:
        raise _bad_duration(text)
    return duration


class ModerationDesk:
    """Moderators, bans and the log, over the moderation record and the guild settings."""

    def __init__(
        self,
        record: ModerationRecord,
        guilds: GuildSettingsStore,
        deliveries: DeliveryRecord,
        notify: Callable[[Notice], None],
    ) -> None:
        self.record = record
        self.guilds = guilds
        self.deliveries = deliveries
        self.notify = notify

    # -- who moderates ------------------------------------------------------------------------
    def is_moderator(self, who: Requester, settings: GuildSettings | None = None) -> bool:
        """Manage Messages in the channel, or the guild's moderator role."""
        if who.manage_messages:
            return True
        if not who.role_ids:
            return False
        role = (settings or self.guilds.get(who.guild_id)).moderator_role
        return role is not None and role in who.role_ids

    def require_moderator(self, who: Requester, action: str) -> None:
        """Refuse (``ModeratorsOnly``, naming ``action``) a member who is not a moderator."""
        if not self.is_moderator(who):
            raise ModeratorsOnly(
                f"Only moderators can {action}: Manage Messages, or the moderator role "
                "set with /settings moderator-role."
            )

    # -- bans ---------------------------------------------------------------------------------
    async def refuse_if_banned(self, who: Requester) -> None:
        ban = await asyncio.to_thread(self.record.active_ban, who.guild_id, who.user_id)
        if ban is not None:
            until = f" until {ban.expires_at:%Y-%m-%d %H:%M} UTC" if ban.expires_at else ""
            raise Refused(f"you are banned from painting here{until}: {ban.reason}")

    async def ban(self, who: Requester, user_id: int, duration: str | None, reason: str) -> Ban:
        """Ban ``user_id`` from generating in the requester's guild (``/mod ban``, the log)."""
        await asyncio.to_thread(self.require_moderator, who, "ban members")
        length = parse_duration(duration)
        return await asyncio.to_thread(
            lambda: self.record.ban(
                who.guild_id, user_id, by=who.user_id, reason=reason, duration=length
            )
        )

    async def unban(self, who: Requester, user_id: int) -> bool:
        await asyncio.to_thread(self.require_moderator, who, "lift bans")
        return await asyncio.to_thread(
            lambda: self.record.unban(who.guild_id, user_id, by=who.user_id)
        )

    async def bans(self, who: Requester) -> list[Ban]:
        await asyncio.to_thread(self.require_moderator, who, "list bans")
        return await asyncio.to_thread(self.record.active_bans, who.guild_id)

    async def recent(
        self, who: Requester, count: int
    ) -> list[tuple[ModerationEntry, tuple[int, int] | None]]:
        """The guild's latest entries, each with where its result is posted (when known)."""
        await asyncio.to_thread(self.require_moderator, who, "read the moderation record")

        def read() -> list[tuple[ModerationEntry, tuple[int, int] | None]]:
            entries = self.record.recent(who.guild_id, count)
            return [(e, self._place(e)) for e in entries]

        return await asyncio.to_thread(read)

    def _place(self, entry: ModerationEntry) -> tuple[int, int] | None:
        return self.deliveries.notes(entry.job_id).result if entry.job_id else None

    # -- the log ------------------------------------------------------------------------------
    async def tell(self, entry: ModerationEntry, settings: GuildSettings | None = None) -> None:
        """Send ``entry`` to its guild's log channel, if the guild has one."""
        if entry.guild_id is None:
            return
        if settings is None:
            settings = await asyncio.to_thread(self.guilds.get, entry.guild_id)
        if settings.mod_log_channel is None:
            return
        place = await asyncio.to_thread(self._place, entry)
        self.notify(LogNotice(settings.mod_log_channel, entry, place))

    async def close_entry(
        self,
        who: Requester,
        decision: Decision,
        entry_id: int,
        job_id: str | None,
        user_id: int | None,
    ) -> None:
        """Record a moderator's decision on a log entry (the result itself is acted on by the
        studio: taken down or posted)."""
        if decision == "dismiss":
            await asyncio.to_thread(
                lambda: self.record.log(
                    "dismiss",
                    guild_id=who.guild_id,
                    actor_id=who.user_id,
                    user_id=user_id,
                    job_id=job_id,
                    reason=f"dismissed moderation record #{entry_id}",
                )
            )
            return
        if job_id is None:
            raise InvalidSetting("job", f"{decision} needs a job")
        action: Literal["approve", "remove"] = "approve" if decision == "approve" else "remove"
        await asyncio.to_thread(
            lambda: self.record.decide(
                job_id,
                guild_id=who.guild_id,
                moderator_id=who.user_id,
                action=action,
                user_id=user_id,
                reason=("approved on" if decision == "approve" else f"{decision} on")
                + f" moderation record #{entry_id}",
            )
        )
