"""The delivery record: per job, what the front end needs to deliver it and what became of it.

Studio's ``studio_*`` tables in the shared SQLite file (versioned in ``studio_meta``): where the
job was asked (an age-restricted channel or not), the front end's delivery target (its reply token
and expiry), where the result was posted, why delivery failed, and whether the result waits for a
moderator's approval. Everything survives a restart; the queue keeps none of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from safety.schema import transaction
from studio.tables import StudioTables
from studio.types import DeliveryTarget

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE studio_jobs (
        job_id TEXT PRIMARY KEY,
        channel_nsfw INTEGER NOT NULL DEFAULT 0,
        reply_token TEXT,
        application_id INTEGER,
        token_expires_at REAL,
        result_channel_id INTEGER,
        result_message_id INTEGER,
        problem TEXT,
        approval TEXT,
        approval_entry_id INTEGER
    );
    CREATE INDEX studio_jobs_approval ON studio_jobs (approval);
    """,
    2: """
    ALTER TABLE studio_jobs ADD COLUMN reply_message_id INTEGER;
    ALTER TABLE studio_jobs ADD COLUMN intent TEXT;
    ALTER TABLE studio_jobs ADD COLUMN intent_at REAL;
    """,
}

Intent = Literal["original", "channel"]
"""How a result is being delivered: by editing the original reply, or by a post to the channel."""


@dataclass(frozen=True)
class JobNotes:
    """What the record holds of one job (defaults for a job it never saw: an older file)."""

    channel_nsfw: bool = False
    target: DeliveryTarget = field(default_factory=DeliveryTarget)
    result: tuple[int, int] | None = None
    problem: str | None = None
    held: bool = False
    intent: Intent | None = None
    """Set before the result is posted: where to look for it after a crash."""


class DeliveryRecord(StudioTables):
    """The ``studio_jobs`` table. Thread-safe; each method is one short statement."""

    META = "studio_meta"
    MIGRATIONS = _MIGRATIONS
    OWNER = "studio's delivery record"

    def _opened(self) -> None:
        self._adopt_legacy_messages()

    def _adopt_legacy_messages(self) -> None:
        """Once per file: the job store of schema 2–3 kept where results were posted in its own
        Discord columns; copy them here, where they belong now."""
        with transaction(self._db):
            done = self._db.execute(
                "SELECT 1 FROM studio_meta WHERE key = 'legacy_messages'"
            ).fetchone()
            if done:
                return
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            if {"message_id", "message_channel_id"} <= columns:
                self._db.execute(
                    "INSERT OR IGNORE INTO studio_jobs (job_id, result_channel_id, "
                    "result_message_id) SELECT id, CAST(message_channel_id AS INTEGER), "
                    "CAST(message_id AS INTEGER) FROM jobs WHERE message_id IS NOT NULL "
                    "AND message_channel_id IS NOT NULL"
                )
            self._db.execute("INSERT INTO studio_meta VALUES ('legacy_messages', 'copied')")

    def _write(self, sql: str, params: tuple[object, ...]) -> int:
        with self._lock:
            return self._db.execute(sql, params).rowcount

    def asked(self, job_id: str, *, channel_nsfw: bool, target: DeliveryTarget) -> None:
        """A new job: where it was asked and how to reach its requester later."""
        self._write(
            "INSERT OR REPLACE INTO studio_jobs (job_id, channel_nsfw, reply_token, "
            "application_id, token_expires_at, reply_message_id) VALUES (?, ?, ?, ?, ?, ?)",
            (
                job_id,
                int(channel_nsfw),
                target.reply_token,
                target.application_id,
                target.expires_at,
                target.message_id,
            ),
        )

    def notes(self, job_id: str) -> JobNotes:
        with self._lock:
            row = self._db.execute(
                "SELECT channel_nsfw, reply_token, application_id, token_expires_at, "
                "reply_message_id, result_channel_id, result_message_id, problem, approval, "
                "intent FROM studio_jobs WHERE job_id = ?",
                (job_id,),
            ).fetchone()
        if row is None:
            return JobNotes()
        nsfw, token, app, expires, reply, channel, message, problem, approval, intent = row
        return JobNotes(
            channel_nsfw=bool(nsfw),
            target=DeliveryTarget(
                reply_token=token, application_id=app, expires_at=expires, message_id=reply
            ),
            result=(channel, message) if channel is not None and message is not None else None,
            problem=problem,
            held=approval == "held",
            intent=intent if intent in ("original", "channel") else None,
        )

    def _upsert(self, job_id: str, column: str, value: object) -> None:
        self._write(
            f"INSERT INTO studio_jobs (job_id, {column}) VALUES (?, ?) "
            f"ON CONFLICT (job_id) DO UPDATE SET {column} = excluded.{column}",
            (job_id, value),
        )

    def delivering(self, job_id: str, intent: Intent, at: float) -> None:
        """Before a result is posted: how (so a restart knows where it may already be)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO studio_jobs (job_id, intent, intent_at) VALUES (?, ?, ?) "
                "ON CONFLICT (job_id) DO UPDATE SET intent = excluded.intent, "
                "intent_at = excluded.intent_at",
                (job_id, intent, at),
            )

    def replied(self, job_id: str, message_id: int) -> None:
        """The reply's message id, learnt after the job was asked."""
        self._upsert(job_id, "reply_message_id", message_id)

    def posted(self, job_id: str, channel_id: int, message_id: int) -> None:
        """The message that shows the result (moderators may remove it later)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO studio_jobs (job_id, result_channel_id, result_message_id) "
                "VALUES (?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET "
                "result_channel_id = excluded.result_channel_id, "
                "result_message_id = excluded.result_message_id",
                (job_id, channel_id, message_id),
            )

    def failed(self, job_id: str, problem: str) -> None:
        """Why the result could not be delivered (a deleted channel, a missing permission)."""
        self._upsert(job_id, "problem", problem[:2000])

    def hold(self, job_id: str, entry_id: int) -> None:
        """The result waits for a moderator's approval (record entry ``entry_id``)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO studio_jobs (job_id, approval, approval_entry_id) "
                "VALUES (?, 'held', ?) ON CONFLICT (job_id) DO UPDATE SET approval = 'held', "
                "approval_entry_id = excluded.approval_entry_id",
                (job_id, entry_id),
            )

    def release(self, job_id: str) -> bool:
        """End the wait for approval; True when the result was waiting."""
        return (
            self._write(
                "UPDATE studio_jobs SET approval = 'released' "
                "WHERE job_id = ? AND approval = 'held'",
                (job_id,),
            )
            == 1
        )
