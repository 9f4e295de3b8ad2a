"""Plain values the bot passes in with each call: where a check happens and the guild's choices.

The bot stores guild settings itself (DESIGN.md); safety never looks them up.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from safety.terms import GuildTerm, TermList

SfwAction = Literal["withhold", "blur_spoiler"]


class ChannelFlags(BaseModel):
    """The channel a prompt or result belongs to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nsfw: bool = Field(default=False, description="Discord's age-restricted flag (channel.nsfw).")
    approval: bool = Field(
        default=False, description="Approval mode: results go to the moderators first."
    )


class GuildSafety(BaseModel):
    """A guild's safety settings, as stored by the bot. Terms are validated when added."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sfw_action: SfwAction = Field(
        default="withhold", description="What happens to a flagged image where NSFW is not allowed."
    )
    allow_nsfw_in_age_restricted: bool = Field(
        default=False, description="Allow sexual and gore content in age-restricted channels."
    )
    terms: tuple[GuildTerm, ...] = Field(default=(), description="Extra blocked terms/patterns.")
    exemptions: tuple[str, ...] = Field(
        default=(), description="Normalised terms this guild allows (never the absolute rule)."
    )

    def term_list(self) -> TermList:
        return TermList(terms=self.terms, exemptions=self.exemptions)


def mature_allowed(channel: ChannelFlags, guild: GuildSafety) -> bool:
    """Whether sexual and gore content may appear: an age-restricted channel, NSFW allowed there.

    The one definition the prompt filter and the image policy share.
    """
    return channel.nsfw and guild.allow_nsfw_in_age_restricted
