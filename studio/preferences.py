"""A member's own defaults (``/preferences``): model, style, aspect, count, steps and negative.

Kept per guild and member in studio's ``studio_preferences`` table (versioned in
``studio_preferences_meta``), one JSON document validated by ``Preferences``. The planner applies
them under what the member types and above the guild's defaults (``Planner.plan``), and only
within the guild's limits: a preferred model the guild no longer allows is skipped, with a note.
The model itself, ``Preferences``, lives with the planner that applies it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import ValidationError

from safety.schema import transaction
from studio.errors import InvalidSetting
from studio.guild_settings import GuildSettingsStore
from studio.planning import Planner, Preferences
from studio.ranges import describe
from studio.tables import StudioTables
from studio.types import Requester

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE studio_preferences (
        guild_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        data TEXT NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (guild_id, user_id)
    );
    """,
}


PREFERENCE_FIELDS: tuple[str, ...] = tuple(Preferences.model_fields)


class PreferenceStore(StudioTables):
    """Every member's preferences in the shared SQLite file. Thread-safe."""

    META = "studio_preferences_meta"
    MIGRATIONS = _MIGRATIONS
    OWNER = "the members' preference store"

    def get(self, guild_id: int, user_id: int) -> Preferences:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM studio_preferences WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            ).fetchone()
        return Preferences.model_validate_json(row[0]) if row else Preferences()

    def update(self, guild_id: int, user_id: int, values: dict[str, Any]) -> Preferences:
        """Merge ``values`` (None clears one) into the member's preferences, all or nothing."""
        with self._lock, transaction(self._db):
            row = self._db.execute(
                "SELECT data FROM studio_preferences WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            ).fetchone()
            current = Preferences.model_validate_json(row[0]) if row else Preferences()
            try:
                updated = Preferences.model_validate(current.model_dump() | values)
            except ValidationError as exc:
                problem = exc.errors()[0]
                name = str(problem["loc"][0]) if problem["loc"] else "preferences"
                allowed = describe(Preferences, name) if name in PREFERENCE_FIELDS else ""
                message = str(problem["msg"]).removeprefix("Value error, ")
                raise InvalidSetting(name, f"{message} (allowed: {allowed})") from None
            if updated.given():
                self._db.execute(
                    "INSERT OR REPLACE INTO studio_preferences VALUES (?, ?, ?, ?)",
                    (guild_id, user_id, updated.model_dump_json(), time.time()),
                )
            else:
                self._db.execute(
                    "DELETE FROM studio_preferences WHERE guild_id = ? AND user_id = ?",
                    (guild_id, user_id),
                )
        return updated


class PreferencesDesk:
    """``/preferences``: show, set and reset a member's own defaults in their guild."""

    def __init__(
        self, store: PreferenceStore, planner: Planner, guilds: GuildSettingsStore
    ) -> None:
        self.store = store
        self.planner = planner
        self.guilds = guilds

    async def view(self, who: Requester) -> Preferences:
        return await asyncio.to_thread(self.store.get, who.guild_id, who.user_id)

    async def set(self, who: Requester, values: dict[str, Any]) -> Preferences:
        """Set the preferences given (None values are left out); at least one."""
        given = {k: v for k, v in values.items() if v is not None}
        if not given:
            raise InvalidSetting(
                "preferences", f"give at least one of {', '.join(PREFERENCE_FIELDS)}"
            )
        unknown = sorted(set(given) - set(PREFERENCE_FIELDS))
        if unknown:
            raise InvalidSetting(
                unknown[0], f"not a preference; use {', '.join(PREFERENCE_FIELDS)}"
            )
        if "model" in given:
            await self._check_model(who, str(given["model"]))
        if "style" in given and given["style"] not in self.planner.presets.names():
            raise InvalidSetting("style", "unknown style; /styles lists them")
        if isinstance(given.get("negative"), str) and not given["negative"].strip():
            given["negative"] = None
        return await asyncio.to_thread(self.store.update, who.guild_id, who.user_id, given)

    async def _check_model(self, who: Requester, model: str) -> None:
        known = self.planner.catalog.names()
        if model not in known:
            raise InvalidSetting(
                "model", f"unknown model {model!r}; choose one of {', '.join(known)}"
            )
        rules = (await asyncio.to_thread(self.guilds.get, who.guild_id)).rules()
        if not rules.allows(model):
            allowed = ", ".join(rules.allowed_models)
            raise InvalidSetting("model", f"{model!r} is not allowed here; use one of: {allowed}")

    async def reset(self, who: Requester, name: str | None = None) -> Preferences:
        """Clear one preference, or every one (``name`` None)."""
        if name is not None and name not in PREFERENCE_FIELDS:
            raise InvalidSetting("preference", f"use one of {', '.join(PREFERENCE_FIELDS)}")
        names = PREFERENCE_FIELDS if name is None else (name,)
        cleared = dict.fromkeys(names)
        return await asyncio.to_thread(self.store.update, who.guild_id, who.user_id, cleared)
