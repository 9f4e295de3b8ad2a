"""The application core: a member's ask → a planned, screened job → a screened result → a
delivery; guild settings, the moderation workflow and the delivery record.

Front ends (``bot/``, the CLI) use what this module exports; studio imports prompting, safety and
generation, and nothing of Discord.
"""

from generation.queue import WorkerInfo
from generation.requests import GenerationRequest
from generation.sizes import ASPECTS
from safety import Ban, ModerationEntry
from studio.administration import RESETTABLE, SettingsDesk
from studio.config import StudioOptions
from studio.gallery import HistoryPage
from studio.guild_settings import (
    NSFW_POLICIES,
    QUOTA_UNITS,
    ROLE_LISTS,
    WHEN_SPENT,
    GuildSettings,
    SettingChange,
)
from studio.history import MAX_QUERY
from studio.moderation import Decision, ModerationDesk, parse_duration
from studio.pictures import grid_png, repeat_png
from studio.planning import GuildRules, Plan, Planner, Preferences
from studio.preferences import PREFERENCE_FIELDS
from studio.quotas import Allowance, QuotaWindow, duration
from studio.ranges import bounds
from studio.service import Studio
from studio.types import (
    DERIVATIONS,
    ApprovalNotice,
    Blocked,
    ChoiceField,
    Deleted,
    DeliveryTarget,
    Derivation,
    Failed,
    Finished,
    ImagineOptions,
    JobEvent,
    JobImage,
    JobRecord,
    LogNotice,
    Notice,
    Orphan,
    Progress,
    Queued,
    Reported,
    Requester,
    Submitted,
)
from studio.views import Cancelled, Decided, InstanceView, PendingJob, QueueView

__all__ = [
    "ASPECTS",
    "DERIVATIONS",
    "MAX_QUERY",
    "NSFW_POLICIES",
    "PREFERENCE_FIELDS",
    "QUOTA_UNITS",
    "RESETTABLE",
    "ROLE_LISTS",
    "WHEN_SPENT",
    "Allowance",
    "ApprovalNotice",
    "Ban",
    "Blocked",
    "Cancelled",
    "ChoiceField",
    "Decided",
    "Decision",
    "Deleted",
    "DeliveryTarget",
    "Derivation",
    "Failed",
    "Finished",
    "GenerationRequest",
    "GuildRules",
    "GuildSettings",
    "HistoryPage",
    "ImagineOptions",
    "InstanceView",
    "JobEvent",
    "JobImage",
    "JobRecord",
    "LogNotice",
    "ModerationDesk",
    "ModerationEntry",
    "Notice",
    "Orphan",
    "PendingJob",
    "Plan",
    "Planner",
    "Preferences",
    "Progress",
    "QueueView",
    "Queued",
    "QuotaWindow",
    "Reported",
    "Requester",
    "SettingChange",
    "SettingsDesk",
    "Studio",
    "StudioOptions",
    "Submitted",
    "WorkerInfo",
    "bounds",
    "duration",
    "grid_png",
    "parse_duration",
    "repeat_png",
]
