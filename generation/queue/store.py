"""The job store: one SQLite file in WAL mode, images as PNG files beside it.

Every transition is one committed statement before anyone is told, so a crash at any point
leaves a state that ``recover`` can resume from: queued jobs in submission order, running jobs
whose result was not delivered queued again, delivered ones never again.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from generation.errors import GenerationError
from generation.queue.jobs import Job, JobNotFound, JobStatus, Origin
from generation.requests import GenerationRequest, GenerationResult


class StoreCorrupt(GenerationError):
    """The state file cannot be read as a Muralist job store."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"job store {path} is unreadable ({reason}); stop the bot, move the file aside "
            f"(and its -wal/-shm files) or restore a backup, then start again to create a new one"
        )
        self.field = "db_path"
        self.path = path


def _v1(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE jobs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            guild_id TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            priority TEXT NOT NULL,
            origin TEXT NOT NULL,
            request TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL,
            error TEXT,
            image_paths TEXT NOT NULL DEFAULT '[]',
            seeds TEXT NOT NULL DEFAULT '[]',
            delivered INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute("CREATE INDEX jobs_status ON jobs (status, seq)")


def _v2(db: sqlite3.Connection) -> None:
    for column in ("interaction_token", "application_id", "message_id"):
        db.execute(f"ALTER TABLE jobs ADD COLUMN {column} TEXT")
    db.execute("CREATE INDEX jobs_finished ON jobs (finished_at)")


def _v3(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE jobs ADD COLUMN message_channel_id TEXT")


def _v4(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE jobs ADD COLUMN model_nsfw TEXT NOT NULL DEFAULT '[]'")


def _v5(db: sqlite3.Connection) -> None:
    # A member's last submit (the cooldown after a restart) without scanning every job.
    db.execute("CREATE INDEX jobs_user ON jobs (user_id, created_at)")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_v1, _v2, _v3, _v4, _v5)
"""Schema version N is reached by running MIGRATIONS[:N]; append, never edit.

The Discord columns of versions 2 and 3 (``interaction_token``, ``application_id``,
``message_id``, ``message_channel_id``) are no longer read or written: the queue knows nothing of
Discord. Studio copies what they held into its own table (``studio.records``) when it first opens
such a file, so they stay in place for that one read.
"""

_COLUMNS = (
    "seq, id, guild_id, channel_id, user_id, priority, origin, request, status, created_at, "
    "started_at, finished_at, error, image_paths, seeds, delivered, attempts, model_nsfw"
)


class JobStore:
    def __init__(self, db_path: Path, images_dir: Path) -> None:
        self.db_path = db_path
        self.images_dir = images_dir
        self._lock = threading.Lock()
        db_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # As long as the other owners of the shared file wait for a write (30 s, see
            # safety.schema.BUSY_TIMEOUT_SECONDS; generation does not import safety).
            self._db = sqlite3.connect(
                db_path, check_same_thread=False, isolation_level=None, timeout=30.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            row = self._db.execute("PRAGMA quick_check").fetchone()
            if row is None or row[0] != "ok":
                raise StoreCorrupt(db_path, f"integrity check: {row[0] if row else 'no answer'}")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreCorrupt(db_path, str(exc)) from exc

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreCorrupt(
                self.db_path, f"schema version {version} is newer than this Muralist knows"
            )
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if version == 0 and "jobs" in tables:
            raise StoreCorrupt(self.db_path, "a jobs table without a schema version")
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                migration(self._db)
                self._db.execute(f"PRAGMA user_version={number}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """One write; the cursor only tells its ``rowcount`` and ``lastrowid``."""
        with self._lock:
            return self._db.execute(sql, params)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Every row of a query, read while the lock is held: a statement left half-read holds
        its snapshot open, and a write on this connection (from another thread) would then fail
        at once with "database is locked" once another owner of the file has written."""
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # --- writes -----------------------------------------------------------------------------

    def add(self, job: Job) -> Job:
        """Insert a new job; returns it with its submission order ``seq``."""
        cursor = self._execute(
            "INSERT INTO jobs (id, guild_id, channel_id, user_id, priority, origin, request, "
            "status, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                job.id,
                job.guild_id,
                job.channel_id,
                job.user_id,
                job.priority,
                job.origin.model_dump_json(),
                job.request.model_dump_json(),
                job.status.value,
                job.created_at,
            ),
        )
        assert cursor.lastrowid is not None
        return job.model_copy(update={"seq": cursor.lastrowid})

    def mark_running(self, job_ids: Iterable[str], now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for job_id in job_ids:
                    self._db.execute(
                        "UPDATE jobs SET status='running', started_at=?, attempts=attempts+1 "
                        "WHERE id=? AND status='queued'",
                        (now, job_id),
                    )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        *,
        error: str | None = None,
        image_paths: Sequence[Path] = (),
        seeds: Sequence[int] = (),
        model_nsfw: Sequence[bool | None] = (),
    ) -> bool:
        """Queued/running → a final state; False when it had already finished (a duplicate).

        ``model_nsfw``: the model's own safety checker's verdict per image (None: it has none).
        """
        assert status.finished
        cursor = self._execute(
            "UPDATE jobs SET status=?, finished_at=?, error=?, image_paths=?, seeds=?, "
            "model_nsfw=? WHERE id=? AND status IN ('queued', 'running')",
            (
                status.value,
                time.time(),
                error,
                json.dumps([str(p) for p in image_paths]),
                json.dumps(list(seeds)),
                json.dumps(list(model_nsfw)),
                job_id,
            ),
        )
        return cursor.rowcount == 1

    def block(self, job_id: str, reason: str) -> bool:
        """Done → blocked: the safety policy withheld the images."""
        cursor = self._execute(
            "UPDATE jobs SET status='blocked', error=? WHERE id=? AND status='done'",
            (reason, job_id),
        )
        return cursor.rowcount == 1

    def mark_delivered(self, job_id: str) -> bool:
        """Idempotent delivery: True once per job, False when it was already delivered."""
        cursor = self._execute("UPDATE jobs SET delivered=1 WHERE id=? AND delivered=0", (job_id,))
        if cursor.rowcount == 0 and self.get(job_id) is None:
            raise JobNotFound(job_id)
        return cursor.rowcount == 1

    def recover(self) -> list[Job]:
        """After a restart: running jobs not delivered are queued again; returns queued jobs."""
        self._execute(
            "UPDATE jobs SET status='queued', started_at=NULL "
            "WHERE status='running' AND delivered=0"
        )
        self._execute(
            "UPDATE jobs SET status='done', finished_at=? WHERE status='running' AND delivered=1",
            (time.time(),),
        )
        return self.by_status(JobStatus.QUEUED)

    # --- images -----------------------------------------------------------------------------

    def save_images(self, job_id: str, result: GenerationResult) -> list[Path]:
        """Write each PNG atomically under ``images_dir/<job id>/``; OSError on a full disk."""
        folder = self.images_dir / job_id
        folder.mkdir(parents=True, exist_ok=True)
        paths: list[Path] = []
        try:
            for index, image in enumerate(result.images):
                path = folder / f"{index}-{image.seed}.png"
                partial = path.with_suffix(".part")
                with open(partial, "wb") as handle:
                    handle.write(image.png)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(partial, path)
                paths.append(path)
        except OSError:
            for leftover in folder.iterdir():
                leftover.unlink(missing_ok=True)
            folder.rmdir()
            raise
        return paths

    def purge(self, retention_days: int, now: float | None = None) -> int:
        """Delete finished jobs older than the retention, and their images; 0 days keeps all."""
        if retention_days <= 0:
            return 0
        cutoff = (time.time() if now is None else now) - retention_days * 86400
        rows = self._rows(
            "SELECT id, image_paths FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ? "
            "AND status NOT IN ('queued', 'running')",
            (cutoff,),
        )
        for job_id, paths in rows:
            for path in json.loads(paths):
                Path(path).unlink(missing_ok=True)
            folder = self.images_dir / job_id
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
            self._execute("DELETE FROM jobs WHERE id=?", (job_id,))
        return len(rows)

    # --- reads ------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        rows = self._rows(f"SELECT {_COLUMNS} FROM jobs WHERE id=?", (job_id,))
        return _job(rows[0]) if rows else None

    def by_status(self, *statuses: JobStatus) -> list[Job]:
        marks = ",".join("?" * len(statuses))
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM jobs WHERE status IN ({marks}) ORDER BY seq",
            [s.value for s in statuses],
        )
        return [_job(row) for row in rows]

    def undelivered(self) -> list[Job]:
        """Finished jobs whose result the bot has not delivered yet (e.g. across a restart)."""
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM jobs WHERE delivered=0 AND status IN "
            "('done', 'failed', 'cancelled', 'blocked') ORDER BY seq"
        )
        return [_job(row) for row in rows]

    def last_submit(self, user_id: str) -> float | None:
        [(last,)] = self._rows("SELECT MAX(created_at) FROM jobs WHERE user_id=?", (user_id,))
        return None if last is None else float(last)


def _job(row: Sequence[Any]) -> Job:
    return Job(
        seq=row[0],
        id=row[1],
        guild_id=row[2],
        channel_id=row[3],
        user_id=row[4],
        priority=row[5],
        origin=Origin.model_validate_json(row[6]),
        request=GenerationRequest.model_validate_json(row[7]),
        status=JobStatus(row[8]),
        created_at=row[9],
        started_at=row[10],
        finished_at=row[11],
        error=row[12],
        image_paths=[Path(p) for p in json.loads(row[13])],
        seeds=json.loads(row[14]),
        delivered=bool(row[15]),
        attempts=row[16],
        model_nsfw=json.loads(row[17]),
    )
