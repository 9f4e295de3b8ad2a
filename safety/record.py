"""The moderation record: blocked prompts, flagged images, reports, bans and moderators' actions.

Stdlib ``sqlite3`` in WAL mode, one connection guarded by a lock, so the bot can call it from
worker threads (``asyncio.to_thread``) while other packages use the same file. Safety owns the
``safety_*`` tables and versions them in ``safety_meta`` (not ``PRAGMA user_version``: that is one
number per file, and the file is shared with the job store and the bot's settings).
Times are stored as UTC epoch seconds and returned as aware datetimes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from safety.errors import InvalidSafetyInput, SafetyError
from safety.images import ImageVerdict
from safety.prompt_filter import PromptVerdict
from safety.schema import migrate_tables, open_shared, transaction

EntryKind = Literal[
    "blocked_prompt",
    "absolute_rule",
    "flagged_image",
    "unchecked_image",
    "blocked_input",
    "report",
    "hidden",
    "approve",
    "remove",
    "dismiss",
    "ban",
    "unban",
    "setting",
]
ResultStatus = Literal["visible", "hidden", "approved", "removed"]

SCHEMA_VERSION = 1
_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE safety_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        guild_id INTEGER,
        channel_id INTEGER,
        user_id INTEGER,
        actor_id INTEGER,
        job_id TEXT,
        reason TEXT NOT NULL DEFAULT '',
        details TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX safety_events_guild ON safety_events (guild_id, id);
    CREATE INDEX safety_events_job ON safety_events (job_id);
    CREATE TABLE safety_bans (
        guild_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        reason TEXT NOT NULL,
        banned_by INTEGER NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL,
        PRIMARY KEY (guild_id, user_id)
    );
    CREATE TABLE safety_reports (
        job_id TEXT NOT NULL,
        reporter_id INTEGER NOT NULL,
        guild_id INTEGER NOT NULL,
        channel_id INTEGER,
        at REAL NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (job_id, reporter_id)
    );
    CREATE TABLE safety_results (
        job_id TEXT PRIMARY KEY,
        guild_id INTEGER NOT NULL,
        status TEXT NOT NULL,
        decided_by INTEGER,
        decided_at REAL
    );
    """,
}


class ModerationEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    at: datetime
    kind: EntryKind
    guild_id: int | None
    channel_id: int | None
    user_id: int | None = Field(description="Whom it is about (the prompt's author, the banned).")
    actor_id: int | None = Field(description="Who acted (reporter, moderator); None for checks.")
    job_id: str | None
    reason: str
    details: dict[str, Any]


class Ban(BaseModel):
    model_config = ConfigDict(frozen=True)

    guild_id: int
    user_id: int
    reason: str
    banned_by: int
    created_at: datetime
    expires_at: datetime | None = Field(description="None: until unbanned.")


class ResultState(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    status: ResultStatus
    reports: int


class ReportOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    accepted: bool = Field(description="False when this member had already reported it.")
    state: ResultState
    newly_hidden: bool = Field(description="This report hid the result: tell the moderators.")
    entry: ModerationEntry | None


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _ts(value: datetime) -> float:
    if value.tzinfo is None:
        raise InvalidSafetyInput("expires_at", "must carry a timezone (use UTC)")
    return value.timestamp()


def _ban(row: sqlite3.Row) -> Ban:
    return Ban(
        guild_id=row["guild_id"],
        user_id=row["user_id"],
        reason=row["reason"],
        banned_by=row["banned_by"],
        created_at=_dt(row["created_at"]),  # type: ignore[arg-type]
        expires_at=_dt(row["expires_at"]),
    )


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class ModerationRecord:
    """The moderation tables in the SQLite file at ``path`` (``":memory:"`` for a throwaway)."""

    def __init__(
        self,
        path: Path | str,
        *,
        reports_to_hide: int = 3,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if reports_to_hide < 1:
            raise InvalidSafetyInput("reports_to_hide", "must be at least 1")
        self.reports_to_hide = reports_to_hide
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self._db = open_shared(path)
        except sqlite3.Error as exc:
            raise SafetyError(f"cannot open the moderation record {path}: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        self._migrate()

    # -- schema ---------------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self._lock:
            migrate_tables(
                self._db, "safety_meta", _MIGRATIONS, SafetyError, "the moderation record has"
            )

    def schema_version(self) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM safety_meta WHERE key = 'schema_version'"
            ).fetchone()
        return int(row["value"])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- the log --------------------------------------------------------------------------------
    def _insert(
        self,
        kind: EntryKind,
        *,
        guild_id: int | None,
        channel_id: int | None = None,
        user_id: int | None = None,
        actor_id: int | None = None,
        job_id: str | None = None,
        reason: str = "",
        details: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> ModerationEntry:
        """Insert one event; the caller holds the lock and any transaction.

        ``at`` defaults to now; an earlier time keeps the date of an event brought in from an
        older store (the bot's settings history).
        """
        at = at if at is not None else self._clock()
        cursor = self._db.execute(
            "INSERT INTO safety_events (at, kind, guild_id, channel_id, user_id, actor_id, job_id,"
            " reason, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                _ts(at),
                kind,
                guild_id,
                channel_id,
                user_id,
                actor_id,
                job_id,
                reason,
                json.dumps(details or {}, sort_keys=True),
            ),
        )
        return ModerationEntry(
            id=int(cursor.lastrowid or 0),
            at=datetime.fromtimestamp(_ts(at), UTC),
            kind=kind,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            actor_id=actor_id,
            job_id=job_id,
            reason=reason,
            details=details or {},
        )

    def log(self, kind: EntryKind, *, guild_id: int | None, **fields: Any) -> ModerationEntry:
        """Record one event (a moderator's ``dismiss``, an admin's ``setting`` change, ...) with
        who, where, which job, why."""
        with self._lock:
            return self._insert(kind, guild_id=guild_id, **fields)

    def record_blocked_prompt(
        self,
        verdict: PromptVerdict,
        *,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int,
        prompt: str,
        job_id: str | None = None,
    ) -> ModerationEntry:
        """A refused prompt; ``absolute_rule`` when the absolute rule refused it."""
        return self.log(
            "absolute_rule" if verdict.absolute else "blocked_prompt",
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            job_id=job_id,
            reason=verdict.reason,
            details={
                "prompt": prompt[:2000],
                "categories": list(verdict.categories),
                "matches": [m.model_dump() for m in verdict.matches],
            },
        )

    def record_image(
        self,
        verdict: ImageVerdict,
        *,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int,
        job_id: str,
        action: str,
    ) -> ModerationEntry:
        """A flagged or uncheckable image and what the policy did with it."""
        kind: EntryKind = "unchecked_image" if verdict.status == "unchecked" else "flagged_image"
        return self.log(
            kind,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            job_id=job_id,
            reason="; ".join(verdict.reasons),
            details={"index": verdict.index, "action": action, "status": verdict.status},
        )

    def record_blocked_input(
        self,
        verdict: ImageVerdict,
        *,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int,
        field: str,
        sha256: str,
        reason: str,
        prompt: str = "",
    ) -> ModerationEntry:
        """A member's input picture the policy refused (the picture itself is not kept: only
        its hash, what the classifier found, and the prompt it came with)."""
        return self.log(
            "blocked_input",
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            reason=reason,
            details={
                "field": field,
                "sha256": sha256,
                "status": verdict.status,
                "labels": [d.label for d in verdict.flagged_labels],
                "prompt": prompt[:2000],
            },
        )

    def recent(
        self, guild_id: int, limit: int = 20, kinds: Sequence[EntryKind] | None = None
    ) -> list[ModerationEntry]:
        """The guild's latest entries, newest first."""
        if not 1 <= limit <= 1000:
            raise InvalidSafetyInput("limit", "must be in 1..1000")
        sql = "SELECT * FROM safety_events WHERE guild_id = ?"
        params: list[Any] = [guild_id]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params += list(kinds)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [
            ModerationEntry(
                id=row["id"],
                at=datetime.fromtimestamp(row["at"], UTC),
                kind=row["kind"],
                guild_id=row["guild_id"],
                channel_id=row["channel_id"],
                user_id=row["user_id"],
                actor_id=row["actor_id"],
                job_id=row["job_id"],
                reason=row["reason"],
                details=json.loads(row["details"]),
            )
            for row in rows
        ]

    # -- bans -----------------------------------------------------------------------------------
    def ban(
        self,
        guild_id: int,
        user_id: int,
        *,
        by: int,
        reason: str,
        duration: timedelta | None = None,
        expires_at: datetime | None = None,
    ) -> Ban:
        """Ban a user from generating in a guild (replacing an earlier ban); no expiry: forever."""
        if not reason.strip():
            raise InvalidSafetyInput("reason", "a ban needs a reason the user will see")
        if duration is not None and expires_at is not None:
            raise InvalidSafetyInput("duration", "give a duration or an expiry, not both")
        if duration is not None and duration <= timedelta(0):
            raise InvalidSafetyInput("duration", "must be positive")
        now = self._clock()
        until = now + duration if duration is not None else expires_at
        if until is not None and until.tzinfo is None:
            raise InvalidSafetyInput("expires_at", "must carry a timezone (use UTC)")
        if until is not None and until <= now:
            raise InvalidSafetyInput("expires_at", "is in the past")
        with self._lock, transaction(self._db):
            self._db.execute(
                "INSERT OR REPLACE INTO safety_bans VALUES (?, ?, ?, ?, ?, ?)",
                (guild_id, user_id, reason, by, _ts(now), _ts(until) if until else None),
            )
            self._insert(
                "ban",
                guild_id=guild_id,
                user_id=user_id,
                actor_id=by,
                reason=reason,
                details={"expires_at": until.isoformat() if until else None},
            )
        return Ban(
            guild_id=guild_id,
            user_id=user_id,
            reason=reason,
            banned_by=by,
            created_at=_dt(_ts(now)),  # type: ignore[arg-type]
            expires_at=_dt(_ts(until)) if until else None,
        )

    def unban(self, guild_id: int, user_id: int, *, by: int, reason: str = "") -> bool:
        """Lift a ban; False when the user had no active ban."""
        with self._lock, transaction(self._db):
            active = self._active_row(guild_id, user_id) is not None
            self._db.execute(
                "DELETE FROM safety_bans WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )
            if active:
                self._insert(
                    "unban", guild_id=guild_id, user_id=user_id, actor_id=by, reason=reason
                )
        return active

    def _active_row(self, guild_id: int, user_id: int) -> sqlite3.Row | None:
        """The user's unexpired ban row; the caller holds the lock."""
        row: sqlite3.Row | None = self._db.execute(
            "SELECT * FROM safety_bans WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        ).fetchone()
        if row is None or (
            row["expires_at"] is not None and row["expires_at"] <= _ts(self._clock())
        ):
            return None
        return row

    def active_ban(self, guild_id: int, user_id: int) -> Ban | None:
        """The user's ban in this guild, unless there is none or it has expired."""
        with self._lock:
            row = self._active_row(guild_id, user_id)
        return None if row is None else _ban(row)

    def active_bans(self, guild_id: int) -> list[Ban]:
        """Every unexpired ban in this guild, newest first (for the moderators' list)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM safety_bans WHERE guild_id = ? "
                "AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at DESC",
                (guild_id, _ts(self._clock())),
            ).fetchall()
        return [_ban(row) for row in rows]

    # -- reports and decisions ----------------------------------------------------------------
    def _state(self, job_id: str) -> ResultState:
        row = self._db.execute(
            "SELECT status FROM safety_results WHERE job_id = ?", (job_id,)
        ).fetchone()
        count = self._db.execute(
            "SELECT COUNT(*) FROM safety_reports WHERE job_id = ?", (job_id,)
        ).fetchone()[0]
        return ResultState(job_id=job_id, status=row["status"] if row else "visible", reports=count)

    def result_state(self, job_id: str) -> ResultState:
        with self._lock:
            return self._state(job_id)

    def report(
        self,
        job_id: str,
        *,
        guild_id: int,
        channel_id: int | None,
        reporter_id: int,
        author_id: int | None = None,
        reason: str = "",
    ) -> ReportOutcome:
        """A member reports a posted result; the ``reports_to_hide``-th report hides it.

        One report per member per result: a repeat is not counted (``accepted=False``). A result a
        moderator already approved or removed stays as decided.
        """
        if not job_id:
            raise InvalidSafetyInput("job_id", "is empty")
        with self._lock, transaction(self._db):
            inserted = self._db.execute(
                "INSERT OR IGNORE INTO safety_reports VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, reporter_id, guild_id, channel_id, _ts(self._clock()), reason[:1000]),
            ).rowcount
            if not inserted:
                state = self._state(job_id)
                return ReportOutcome(accepted=False, state=state, newly_hidden=False, entry=None)
            self._db.execute(
                "INSERT OR IGNORE INTO safety_results (job_id, guild_id, status) "
                "VALUES (?, ?, 'visible')",
                (job_id, guild_id),
            )
            entry = self._insert(
                "report",
                guild_id=guild_id,
                channel_id=channel_id,
                user_id=author_id,
                actor_id=reporter_id,
                job_id=job_id,
                reason=reason[:1000],
            )
            state = self._state(job_id)
            newly_hidden = state.status == "visible" and state.reports >= self.reports_to_hide
            if newly_hidden:
                self._db.execute(
                    "UPDATE safety_results SET status = 'hidden' WHERE job_id = ?", (job_id,)
                )
                self._insert(
                    "hidden",
                    guild_id=guild_id,
                    channel_id=channel_id,
                    user_id=author_id,
                    job_id=job_id,
                    reason=f"reported by {state.reports} members",
                )
                state = state.model_copy(update={"status": "hidden"})
        return ReportOutcome(accepted=True, state=state, newly_hidden=newly_hidden, entry=entry)

    def decide(
        self,
        job_id: str,
        *,
        guild_id: int,
        moderator_id: int,
        action: Literal["approve", "remove"],
        reason: str = "",
        user_id: int | None = None,
    ) -> ResultState:
        """A moderator's decision on a result: approved results show again, removed ones don't."""
        if action not in ("approve", "remove"):
            raise InvalidSafetyInput("action", "must be approve or remove")
        status: ResultStatus = "approved" if action == "approve" else "removed"
        with self._lock, transaction(self._db):
            self._db.execute(
                "INSERT INTO safety_results (job_id, guild_id, status, decided_by, decided_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET"
                " status = excluded.status, decided_by = excluded.decided_by,"
                " decided_at = excluded.decided_at",
                (job_id, guild_id, status, moderator_id, _ts(self._clock())),
            )
            self._insert(
                action,
                guild_id=guild_id,
                user_id=user_id,
                actor_id=moderator_id,
                job_id=job_id,
                reason=reason,
            )
            state = self._state(job_id)
        return state
