"""Safety: prompt filters, image classifiers, the channel-aware policy, the moderation record.

Knows text and images, not Discord. The bot builds one ``PromptFilter``, one ``ImageChecker`` and
one ``ModerationRecord`` at start-up and passes ``ChannelFlags`` and ``GuildSafety`` with each call.
"""

from safety.images import ImageChecker, ImageVerdict, blur_image
from safety.models import ChannelFlags, GuildSafety
from safety.policy import Decision, ImageDecision, decide
from safety.prompt_filter import PromptFilter, PromptVerdict, TermMatch
from safety.record import Ban, ModerationEntry, ModerationRecord, ReportOutcome, ResultState
from safety.terms import GuildTerm, TermList, load_terms_file, validate_guild_term

__all__ = [
    "Ban",
    "ChannelFlags",
    "Decision",
    "GuildSafety",
    "GuildTerm",
    "ImageChecker",
    "ImageDecision",
    "ImageVerdict",
    "ModerationEntry",
    "ModerationRecord",
    "PromptFilter",
    "PromptVerdict",
    "ReportOutcome",
    "ResultState",
    "TermList",
    "TermMatch",
    "blur_image",
    "decide",
    "load_terms_file",
    "validate_guild_term",
]
