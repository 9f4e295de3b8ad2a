"""Per-guild settings: stored by studio in the shared SQLite file, validated on every change.

Studio owns the ``bot_*`` tables (named when the bot held these rules; renaming them would buy
nothing and stop an older Muralist from opening the file) and versions them in ``bot_meta`` (the
file is shared with the job store and the moderation record, so ``PRAGMA user_version`` is not
ours). A guild's settings
are one JSON document validated by ``GuildSettings``; every change is validated before it is
written, takes effect on the next call (reads go to the database, nothing is cached), and lands
in the moderation record (kind ``setting``) with who, when, which setting, and the old and new
values, beside the moderators' actions (``/mod recent``).

Lower packages never read this: studio turns a guild's settings into plain values per call
(``GuildSettings.safety_for``, ``GuildSettings.limits``, ``GuildSettings.rules``).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from generation.config import CooldownSeconds, PerGuildCap, PerUserCap
from generation.errors import InvalidRequest
from generation.queue import Limits
from generation.requests import MAX_GUIDANCE, MAX_STEPS
from generation.sizes import ASPECTS
from prompting import Preset
from prompting.presets import preset_key
from safety import GuildSafety, GuildTerm, ModerationEntry, ModerationRecord, validate_guild_term
from safety.errors import InvalidSafetyInput
from safety.schema import migrate_tables, open_shared, transaction
from studio.errors import InvalidSetting, SettingsStoreError
from studio.planning import MAX_NEGATIVE, GuildRules, check_preset_settings
from studio.ranges import describe

NsfwPolicy = Literal["withhold", "blur_spoiler", "allow"]
NSFW_POLICIES: tuple[NsfwPolicy, ...] = ("withhold", "blur_spoiler", "allow")
QuotaUnit = Literal["images", "gpu_seconds"]
QUOTA_UNITS: tuple[QuotaUnit, ...] = ("images", "gpu_seconds")
WhenSpent = Literal["refuse", "relax"]
WHEN_SPENT: tuple[WhenSpent, ...] = ("refuse", "relax")
ROLE_LISTS = ("fast_roles", "quota_exempt_roles")
"""Settings that list roles, changed one role at a time (``set_role``)."""
MAX_ROLES = 50
MAX_TERMS = 200
MAX_PRESETS = 25

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE bot_guild_settings (
        guild_id INTEGER PRIMARY KEY,
        data TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE bot_setting_changes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        guild_id INTEGER NOT NULL,
        actor_id INTEGER NOT NULL,
        setting TEXT NOT NULL,
        old TEXT NOT NULL,
        new TEXT NOT NULL
    );
    CREATE INDEX bot_setting_changes_guild ON bot_setting_changes (guild_id, id);
    CREATE TABLE bot_result_messages (
        job_id TEXT PRIMARY KEY,
        channel_id INTEGER NOT NULL,
        message_id INTEGER NOT NULL
    );
    """,
    # The changes live in the moderation record now; ``_move_history`` copied the rows first.
    2: "DROP TABLE bot_setting_changes",
    # Where results are posted is kept with the job now (``Studio.delivered``).
    3: "DROP TABLE bot_result_messages",
}


class GuildSettings(BaseModel):
    """One guild's choices. ``None`` means "the instance's default" for every default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_model: str | None = Field(default=None, description="Model when /imagine names none.")
    default_steps: int | None = Field(default=None, ge=1, le=MAX_STEPS)
    default_cfg: float | None = Field(default=None, ge=0.0, le=MAX_GUIDANCE)
    default_aspect: str | None = Field(default=None, description=f"One of {', '.join(ASPECTS)}.")
    default_negative: str | None = Field(default=None, max_length=MAX_NEGATIVE)
    allowed_models: tuple[str, ...] = Field(default=(), description="Empty: every model.")
    per_user_cap: PerUserCap | None = None
    per_guild_cap: PerGuildCap | None = None
    cooldown_seconds: CooldownSeconds | None = None
    nsfw_policy: NsfwPolicy = Field(
        default="withhold",
        description="Flagged images: withhold, blur_spoiler, or allow (age-restricted only).",
    )
    channel_nsfw: dict[int, NsfwPolicy] = Field(
        default_factory=dict, description="Per-channel overrides of nsfw_policy."
    )
    approval_channels: tuple[int, ...] = ()
    approval_target: int | None = Field(
        default=None, description="Where results wait for approval (default: the log channel)."
    )
    mod_log_channel: int | None = None
    moderator_role: int | None = None
    terms: tuple[GuildTerm, ...] = Field(default=(), max_length=MAX_TERMS)
    exemptions: tuple[str, ...] = Field(default=(), max_length=MAX_TERMS)
    presets: tuple[Preset, ...] = Field(
        default=(),
        max_length=MAX_PRESETS,
        description=f"The guild's own style presets (at most {MAX_PRESETS}).",
    )
    # Quotas and lanes (``studio.quotas``).
    quota_unit: QuotaUnit = Field(
        default="images", description="What quotas count: images, or gpu_seconds."
    )
    quota_hourly: int | None = Field(
        default=None, ge=1, le=100_000, description="Per member and clock hour (None: none)."
    )
    quota_daily: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Per member and day (None: none)."
    )
    quota_reset_hour: int = Field(
        default=0, ge=0, le=23, description="The hour (UTC) a new quota day starts."
    )
    quota_when_spent: WhenSpent = Field(
        default="refuse",
        description="Past the quota: refuse (saying when it frees up), or paint on in relax.",
    )
    quota_exempt_roles: tuple[int, ...] = Field(default=(), max_length=MAX_ROLES)
    fast_roles: tuple[int, ...] = Field(
        default=(), max_length=MAX_ROLES, description="Roles that paint in the fast lane."
    )

    @field_validator("default_aspect")
    @classmethod
    def _aspect(cls, value: str | None) -> str | None:
        if value is not None and value not in ASPECTS:
            raise ValueError(f"use one of {', '.join(ASPECTS)}")
        return value

    # -- plain values for the lower packages -------------------------------------------------
    def policy_for(self, channel_id: int) -> NsfwPolicy:
        return self.channel_nsfw.get(channel_id, self.nsfw_policy)

    def safety_for(self, channel_id: int) -> GuildSafety:
        """The safety package's view of this guild in one channel."""
        policy = self.policy_for(channel_id)
        return GuildSafety(
            sfw_action="blur_spoiler" if policy == "blur_spoiler" else "withhold",
            allow_nsfw_in_age_restricted=policy == "allow",
            terms=self.terms,
            exemptions=self.exemptions,
        )

    def limits(self) -> Limits:
        return Limits(
            per_user_cap=self.per_user_cap,
            per_guild_cap=self.per_guild_cap,
            cooldown_seconds=self.cooldown_seconds,
        )

    def rules(self) -> GuildRules:
        """The studio's view: defaults for the options a user leaves out, allowed models."""
        return GuildRules(
            model=self.default_model,
            steps=self.default_steps,
            cfg=self.default_cfg,
            aspect=self.default_aspect,
            negative=self.default_negative,
            allowed_models=self.allowed_models,
            presets=self.presets,
        )


# Settings a /settings subcommand sets from one value; terms, exemptions and channel lists have
# their own add/remove operations below.
SCALAR_SETTINGS: tuple[str, ...] = (
    "default_model",
    "default_steps",
    "default_cfg",
    "default_aspect",
    "default_negative",
    "per_user_cap",
    "per_guild_cap",
    "cooldown_seconds",
    "nsfw_policy",
    "mod_log_channel",
    "approval_target",
    "moderator_role",
    "quota_unit",
    "quota_hourly",
    "quota_daily",
    "quota_reset_hour",
    "quota_when_spent",
)


_CHOICES: dict[str, tuple[str, ...]] = {
    "nsfw_policy": NSFW_POLICIES,
    "quota_unit": QUOTA_UNITS,
    "quota_when_spent": WHEN_SPENT,
}


class SettingChange(BaseModel):
    """One setting's change, as the moderation record keeps it (``details``)."""

    model_config = ConfigDict(frozen=True)

    at: float
    guild_id: int
    actor_id: int
    setting: str
    old: Any
    new: Any

    @classmethod
    def of(cls, entry: ModerationEntry) -> SettingChange:
        return cls(
            at=entry.at.timestamp(),
            guild_id=entry.guild_id or 0,
            actor_id=entry.actor_id or 0,
            setting=entry.details["setting"],
            old=entry.details["old"],
            new=entry.details["new"],
        )

    def describe(self, width: int = 80) -> str:
        """The change as /settings history and /mod recent show it: `name`: `old` → `new`."""
        return f"`{self.setting}`: `{str(self.old)[:width]}` → `{str(self.new)[:width]}`"


class GuildSettingsStore:
    """Every guild's settings in the SQLite file at ``path``.

    ``known_models`` gives the catalog's model names (checked when a model setting changes);
    every change is logged to ``record``. Thread-safe; each method is one short transaction, so
    call it with ``asyncio.to_thread`` or directly (the rows are tiny).
    """

    def __init__(
        self,
        path: Path | str,
        known_models: Callable[[], Iterable[str]],
        record: ModerationRecord,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._known_models = known_models
        self._record = record
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self._db = open_shared(path)
            self._move_history()
            self._migrate()
        except sqlite3.Error as exc:
            raise SettingsStoreError(f"cannot open the guild settings in {path}: {exc}") from exc

    def _move_history(self) -> None:
        """Schema 1 kept the changes in ``bot_setting_changes``: copy them into the record.

        Row by row, each deleted once copied, before migration 2 drops the table: the record is
        another connection, so no transaction spans both; a crash repeats at most one entry.
        """
        with self._lock:
            if not self._has_table("bot_setting_changes"):
                return
            rows = self._db.execute(
                "SELECT id, at, guild_id, actor_id, setting, old, new FROM bot_setting_changes"
                " ORDER BY id"
            ).fetchall()
            for id_, at, guild_id, actor_id, setting, old, new in rows:
                self._log_change(
                    SettingChange(
                        at=at,
                        guild_id=guild_id,
                        actor_id=actor_id,
                        setting=setting,
                        old=json.loads(old),
                        new=json.loads(new),
                    )
                )
                self._db.execute("DELETE FROM bot_setting_changes WHERE id = ?", (id_,))

    def _has_table(self, name: str) -> bool:
        found = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return found is not None

    def _log_change(self, change: SettingChange) -> None:
        self._record.log(
            "setting",
            guild_id=change.guild_id,
            actor_id=change.actor_id,
            reason=change.describe(200),
            details={"setting": change.setting, "old": change.old, "new": change.new},
            at=datetime.fromtimestamp(change.at, UTC),
        )

    def _migrate(self) -> None:
        with self._lock:
            migrate_tables(
                self._db, "bot_meta", _MIGRATIONS, SettingsStoreError, "the guild settings have"
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- reads ---------------------------------------------------------------------------------
    def get(self, guild_id: int) -> GuildSettings:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM bot_guild_settings WHERE guild_id = ?", (guild_id,)
            ).fetchone()
        return GuildSettings.model_validate_json(row[0]) if row else GuildSettings()

    def history(self, guild_id: int, limit: int = 20) -> list[SettingChange]:
        """The guild's latest changes, newest first, from the moderation record."""
        entries = self._record.recent(guild_id, limit, kinds=("setting",))
        return [SettingChange.of(entry) for entry in entries]

    # -- changes -------------------------------------------------------------------------------
    def _write(
        self,
        guild_id: int,
        actor_id: int,
        names: tuple[str, ...],
        change: Callable[[dict[str, Any]], Any],
    ) -> GuildSettings:
        """Read, change, validate the whole document, store it with its history: all or nothing."""
        with self._lock:
            with transaction(self._db):
                row = self._db.execute(
                    "SELECT data FROM bot_guild_settings WHERE guild_id = ?", (guild_id,)
                ).fetchone()
                current = GuildSettings.model_validate_json(row[0]) if row else GuildSettings()
                data = current.model_dump(mode="json")
                old = {name: data.get(name) for name in names}
                change(data)
                try:
                    updated = GuildSettings.model_validate(data)
                except ValidationError as exc:
                    problem = exc.errors()[0]
                    name = str(problem["loc"][0]) if problem["loc"] else names[0]
                    raise InvalidSetting(
                        name, f"{problem['msg']} (allowed: {describe(GuildSettings, name)})"
                    ) from exc
                new = updated.model_dump(mode="json")
                at = self._clock()
                self._db.execute(
                    "INSERT OR REPLACE INTO bot_guild_settings VALUES (?, ?, ?)",
                    (guild_id, updated.model_dump_json(), at),
                )
            # After the commit: the record writes on its own connection to the same file.
            for name in names:
                self._log_change(
                    SettingChange(
                        at=at,
                        guild_id=guild_id,
                        actor_id=actor_id,
                        setting=name,
                        old=old[name],
                        new=new.get(name),
                    )
                )
        return updated

    def _check_model(self, setting: str, model: str) -> None:
        known = list(self._known_models())
        if model not in known:
            raise InvalidSetting(
                setting, f"unknown model {model!r}; choose from {', '.join(known)}"
            )

    def set(self, guild_id: int, actor_id: int, setting: str, value: Any) -> GuildSettings:
        """Set one scalar setting (``None`` restores the instance's default)."""
        return self.set_many(guild_id, actor_id, {setting: value})

    def set_many(self, guild_id: int, actor_id: int, values: dict[str, Any]) -> GuildSettings:
        """Set scalar settings together: every value is checked before any is stored."""
        for setting, value in values.items():
            if setting not in SCALAR_SETTINGS:
                raise InvalidSetting(
                    setting, f"not a setting; use one of {', '.join(SCALAR_SETTINGS)}"
                )
            choices = _CHOICES.get(setting)
            if choices is not None and value not in choices:
                raise InvalidSetting(setting, f"use one of {', '.join(choices)}")
        model = values.get("default_model")
        if model is not None:
            self._check_model("default_model", str(model))
            allowed = self.get(guild_id).allowed_models
            if allowed and model not in allowed:
                raise InvalidSetting(
                    "default_model",
                    f"{model!r} is not among the allowed models ({', '.join(allowed)})",
                )
        cleaned = {
            k: (None if k == "default_negative" and isinstance(v, str) and not v.strip() else v)
            for k, v in values.items()
        }
        return self._write(guild_id, actor_id, tuple(cleaned), lambda d: d.update(cleaned))

    def set_allowed_models(
        self, guild_id: int, actor_id: int, models: Iterable[str]
    ) -> GuildSettings:
        """Restrict /imagine to these models (empty: every model of the catalog)."""
        wanted = tuple(dict.fromkeys(m.strip() for m in models if m.strip()))
        for model in wanted:
            self._check_model("allowed_models", model)
        default = self.get(guild_id).default_model
        if wanted and default is not None and default not in wanted:
            raise InvalidSetting(
                "allowed_models",
                f"the guild's default model {default!r} would not be allowed; "
                "include it or change default_model first",
            )
        return self._write(
            guild_id,
            actor_id,
            ("allowed_models",),
            lambda d: d.__setitem__("allowed_models", wanted),
        )

    def set_channel_nsfw(
        self, guild_id: int, actor_id: int, channel_id: int, policy: str | None
    ) -> GuildSettings:
        """A channel's own NSFW policy (``None``: follow the guild's ``nsfw_policy``)."""
        if policy is not None and policy not in NSFW_POLICIES:
            raise InvalidSetting("channel_nsfw", f"use one of {', '.join(NSFW_POLICIES)}")

        def change(data: dict[str, Any]) -> None:
            channels = data["channel_nsfw"]
            channels.pop(str(channel_id), None)
            if policy is not None:
                channels[str(channel_id)] = policy

        return self._write(guild_id, actor_id, ("channel_nsfw",), change)

    def set_approval(
        self, guild_id: int, actor_id: int, channel_id: int, enabled: bool
    ) -> GuildSettings:
        """Turn approval mode on or off in one channel."""

        def change(data: dict[str, Any]) -> None:
            channels = [c for c in data["approval_channels"] if c != channel_id]
            data["approval_channels"] = [*channels, channel_id] if enabled else channels

        return self._write(guild_id, actor_id, ("approval_channels",), change)

    def set_role(
        self, guild_id: int, actor_id: int, setting: str, role_id: int, enabled: bool
    ) -> GuildSettings:
        """Add a role to (or remove it from) a role list: ``fast_roles``, ``quota_exempt_roles``."""
        if setting not in ROLE_LISTS:
            raise InvalidSetting(setting, f"not a role list; use one of {', '.join(ROLE_LISTS)}")

        def change(data: dict[str, Any]) -> None:
            roles = [r for r in data[setting] if r != role_id]
            data[setting] = [*roles, role_id] if enabled else roles

        return self._write(guild_id, actor_id, (setting,), change)

    def add_term(
        self, guild_id: int, actor_id: int, text: str, *, is_regex: bool = False
    ) -> GuildSettings:
        """Block a word, phrase or pattern in this guild (vetted by ``validate_guild_term``)."""
        try:
            term = validate_guild_term(text, is_regex, field="terms")
        except InvalidSafetyInput as exc:
            raise InvalidSetting(exc.field, exc.message) from exc

        def change(data: dict[str, Any]) -> None:
            terms = [t for t in data["terms"] if GuildTerm.model_validate(t) != term]
            data["terms"] = [*terms, term.model_dump(mode="json")]

        return self._write(guild_id, actor_id, ("terms",), change)

    def remove_term(self, guild_id: int, actor_id: int, text: str) -> GuildSettings:
        """Remove a term as listed (plain terms also match as typed, before normalising)."""
        current = self.get(guild_id).terms
        wanted = {text}
        # Not a valid plain term: it can still name a listed pattern exactly.
        with contextlib.suppress(InvalidSafetyInput):
            wanted.add(validate_guild_term(text, False, field="terms").text)
        if not any(t.text in wanted for t in current):
            listed = ", ".join(t.text for t in current) or "none"
            raise InvalidSetting("terms", f"{text!r} is not listed (listed: {listed})")
        return self._write(
            guild_id,
            actor_id,
            ("terms",),
            lambda d: d.__setitem__("terms", [t for t in d["terms"] if t["text"] not in wanted]),
        )

    def add_exemption(self, guild_id: int, actor_id: int, text: str) -> GuildSettings:
        """Allow a shipped term in this guild (never the absolute rule)."""
        try:
            normal = validate_guild_term(text, False, field="exemptions").text
        except InvalidSafetyInput as exc:
            raise InvalidSetting(exc.field, exc.message) from exc

        def change(data: dict[str, Any]) -> None:
            kept = [e for e in data["exemptions"] if e != normal]
            data["exemptions"] = [*kept, normal]

        return self._write(guild_id, actor_id, ("exemptions",), change)

    def remove_exemption(self, guild_id: int, actor_id: int, text: str) -> GuildSettings:
        current = self.get(guild_id).exemptions
        try:
            normal = validate_guild_term(text, False, field="exemptions").text
        except InvalidSafetyInput as exc:
            raise InvalidSetting(exc.field, exc.message) from exc
        if normal not in current:
            listed = ", ".join(current) or "none"
            raise InvalidSetting("exemptions", f"{text!r} is not listed (listed: {listed})")
        return self._write(
            guild_id,
            actor_id,
            ("exemptions",),
            lambda d: d.__setitem__("exemptions", [e for e in d["exemptions"] if e != normal]),
        )

    def add_preset(self, guild_id: int, actor_id: int, values: dict[str, Any]) -> GuildSettings:
        """Add (or replace, by name) one of the guild's own style presets; ``values`` are a
        ``Preset``'s fields, each checked, the scheduler and aspect too (``negative`` may be
        one comma-separated text)."""
        values = dict(values)
        if isinstance(values.get("negative"), str):
            values["negative"] = tuple(
                t.strip() for t in values["negative"].split(",") if t.strip()
            )
        try:
            preset = Preset.model_validate(values)
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = str(problem["loc"][0]) if problem["loc"] else "preset"
            message = str(problem["msg"]).removeprefix("Value error, ")
            raise InvalidSetting(field, message) from None
        try:
            check_preset_settings(preset, field="preset")
        except InvalidRequest as exc:
            raise InvalidSetting(exc.field, exc.message) from None

        def change(data: dict[str, Any]) -> None:
            kept = [p for p in data["presets"] if p["name"] != preset.name]
            if len(kept) >= MAX_PRESETS:
                raise InvalidSetting(
                    "presets", f"a server keeps at most {MAX_PRESETS} presets; remove one first"
                )
            data["presets"] = [*kept, preset.model_dump(mode="json")]

        return self._write(guild_id, actor_id, ("presets",), change)

    def remove_preset(self, guild_id: int, actor_id: int, name: str) -> GuildSettings:
        """Remove one of the guild's own presets (the shipped ones stay)."""
        key = preset_key(name)
        current = [p.name for p in self.get(guild_id).presets]
        if key not in current:
            listed = ", ".join(current) or "none"
            raise InvalidSetting("name", f"{name!r} is not one of this server's presets ({listed})")
        return self._write(
            guild_id,
            actor_id,
            ("presets",),
            lambda d: d.__setitem__("presets", [p for p in d["presets"] if p["name"] != key]),
        )
