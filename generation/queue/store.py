"""The job store: one SQLite file in WAL mode, images as PNG files beside it.

Every transition is one committed statement before anyone is told, so a crash at any point
leaves a state that ``recover`` can resume from: queued jobs in submission order, running jobs
whose result was not delivered queued again, delivered ones never again.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from generation.errors import GenerationError
from generation.input_store import InputStore
from generation.queue.jobs import Job, JobNotFound, JobStatus, Origin
from generation.requests import GenerationRequest, GenerationResult

SQLITE_HEADER = b"SQLite format 3\x00"
MIN_FREE_BYTES = 1024 * 1024
"""Below this much free space on the state file's disk, start-up stops and says the disk is full."""


class StoreCorrupt(GenerationError):
    """The state file cannot be read as a Muralist job store."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"job store {path} is unreadable ({reason}); stop the bot, move the file aside "
            f"(and its -wal/-shm files) or restore a backup, then start again to create a new one"
        )
        self.field = "db_path"
        self.path = path


class StorageUnwritable(GenerationError):
    """The state file or the images folder cannot be written: a read-only mount (or missing
    permission) or a full disk. Not a damaged file: nothing needs restoring, only fixing."""

    def __init__(self, field: str, path: Path, problem: str) -> None:
        super().__init__(f"{field} {path} cannot be written: {problem}")
        self.field = field
        self.path = path
        self.problem = problem

    @property
    def summary(self) -> str:
        """What users may be told (no path): "its disk is full" or "its storage is read-only"."""
        return "its disk is full" if "full" in self.problem else "its storage is read-only"


def read_only_problem(path: Path) -> str | None:
    """Why nothing can be written at ``path`` (the nearest existing folder or file), or None."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    folder = probe if probe.is_dir() else probe.parent
    flags = os.statvfs(folder).f_flag
    if flags & os.ST_RDONLY:
        return "its file system is mounted read-only; remount it read-write or choose another place"
    for target in {probe, folder}:
        if not os.access(target, os.W_OK):
            return (
                f"{target} is read-only for this user (uid {os.geteuid()}); give it write "
                "permission or choose another place"
            )
    return None


def full_disk_problem(path: Path, needed: int = MIN_FREE_BYTES) -> str | None:
    """ "the disk is full" when less than ``needed`` bytes are free where ``path`` lives."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    stats = os.statvfs(probe if probe.is_dir() else probe.parent)
    free = stats.f_bavail * stats.f_frsize
    if free < needed:
        return f"the disk is full ({free} bytes free); free some space and start again"
    return None


def storage_problem(error: BaseException) -> str | None:
    """A read-only or full storage named from an OS or SQLite error, else None (e.g. corruption)."""
    if isinstance(error, OSError):
        if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return f"the disk is full ({error.strerror})"
        if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return f"it is read-only ({error.strerror})"
        return None
    name = getattr(error, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_FULL"):
        return "the disk is full (database or disk is full)"
    if name.startswith("SQLITE_READONLY"):
        return "it is read-only (attempt to write a readonly database)"
    return None


def check_state_file(path: Path) -> None:
    """Refuse, before anything writes to it, a state file Muralist cannot use; say why.

    Read-only throughout (SQLite's ``mode=ro``): a refused file keeps every byte, its header
    included. A missing file is new and fine when its folder can be written; an existing
    file must be a SQLite database that passes ``quick_check``, holds no tables of another
    program, and has a job-store schema this Muralist knows; and its disk must be writable
    and not full. A zero-byte file is refused: SQLite would take it for a new database, but a
    file that exists and is empty is what a truncated copy or a full disk leaves behind.
    """
    if not path.exists():
        problem = read_only_problem(path) or full_disk_problem(path)
        if problem is not None:
            raise StorageUnwritable("db_path", path, problem)
        return
    if path.is_dir():
        raise StoreCorrupt(path, "it is a folder, not a file")
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreCorrupt(path, f"cannot read it: {exc.strerror}") from exc
    if not header:
        raise StoreCorrupt(
            path,
            "the file is empty (0 bytes) but not new: a truncated copy or a full disk leaves "
            "this; delete it only if it never held jobs",
        )
    if header != SQLITE_HEADER:
        raise StoreCorrupt(path, "not a SQLite database")
    _inspect(path)
    problem = read_only_problem(path) or full_disk_problem(path)
    if problem is not None:
        raise StorageUnwritable("db_path", path, problem)


def check_images_folder(folder: Path) -> None:
    """The images folder exists (created when missing) and takes a file; a read-only folder or a
    full disk is said at start-up, not at the first finished job."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as exc:
        problem = storage_problem(exc) or read_only_problem(folder) or str(exc)
        raise StorageUnwritable("images_dir", folder, problem) from exc
    full = full_disk_problem(folder)
    if full is not None:
        raise StorageUnwritable("images_dir", folder, full)


def _inspect(path: Path) -> None:
    """The read-only checks of an existing SQLite file: integrity, schema version, owners."""
    try:
        db = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreCorrupt(path, str(exc)) from exc
    try:
        row = db.execute("PRAGMA quick_check").fetchone()
        if row is None or row[0] != "ok":
            raise StoreCorrupt(path, f"integrity check: {row[0] if row else 'no answer'}")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error as exc:
        problem = storage_problem(exc)
        if problem is not None or getattr(exc, "sqlite_errorname", "") == "SQLITE_CANTOPEN":
            problem = read_only_problem(path) or problem  # e.g. a WAL file's -shm cannot be made
        if problem is not None:
            raise StorageUnwritable("db_path", path, problem) from exc
        raise StoreCorrupt(path, str(exc)) from exc
    finally:
        db.close()
    if version > len(MIGRATIONS):
        raise StoreCorrupt(path, f"schema version {version} is newer than this Muralist knows")
    if version == 0 and "jobs" in tables:
        raise StoreCorrupt(path, "a jobs table without a schema version")
    mine = {t for t in tables if t == "jobs" or t.endswith("_meta")}
    foreign = sorted(t for t in tables if not t.startswith("sqlite_"))
    if foreign and not mine:
        listed = ", ".join(foreign[:5])
        raise StoreCorrupt(path, f"it holds another program's tables ({listed}), not Muralist's")


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
        #: Members' input pictures, once per hash; rows keep only the hash (``add``).
        self.inputs = InputStore(images_dir / "inputs")
        self._lock = threading.Lock()
        if not db_path.parent.exists():
            try:
                db_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                problem = storage_problem(exc) or str(exc)
                raise StorageUnwritable("db_path", db_path, problem) from exc
        check_state_file(db_path)  # before the first write: a refused file stays as it was
        try:
            # As long as the other owners of the shared file wait for a write (30 s, see
            # safety.schema.BUSY_TIMEOUT_SECONDS; generation does not import safety).
            self._db = sqlite3.connect(
                db_path, check_same_thread=False, isolation_level=None, timeout=30.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            named = storage_problem(exc)
            if named is not None:
                raise StorageUnwritable("db_path", db_path, named) from exc
            raise StoreCorrupt(db_path, str(exc)) from exc

    def _migrate(self) -> None:
        """Run the migrations after the file's version (``check_state_file`` refused the rest)."""
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
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
        with self._lock, self._named_faults():
            return self._db.execute(sql, params)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Every row of a query, read while the lock is held: a statement left half-read holds
        its snapshot open, and a write on this connection (from another thread) would then fail
        at once with "database is locked" once another owner of the file has written."""
        with self._lock, self._named_faults():
            return self._db.execute(sql, params).fetchall()

    @contextlib.contextmanager
    def _named_faults(self) -> Iterator[None]:
        """A full disk or a read-only file, when SQLite meets one, as ``StorageUnwritable``
        (said to users and operators as such, not as an unexpected error)."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            problem = storage_problem(exc)
            if problem is None:
                raise
            raise StorageUnwritable("db_path", self.db_path, problem) from exc

    # --- writes -----------------------------------------------------------------------------

    def add(self, job: Job) -> Job:
        """Insert a new job; returns it with its submission order ``seq``. An input picture is
        stored once per hash in ``inputs`` and the row (and the returned job) keeps its hash."""
        try:
            request = self.inputs.detach(job.request)
        except OSError as exc:
            problem = storage_problem(exc) or str(exc)
            raise StorageUnwritable("images_dir", self.inputs.folder, problem) from exc
        job = job.model_copy(update={"request": request})
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
        with self._lock, self._named_faults():
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
        named = self._rows(
            "SELECT DISTINCT json_extract(request, '$.init_image_sha256') FROM jobs "
            "WHERE json_extract(request, '$.init_image_sha256') IS NOT NULL"
        )
        named += self._rows(  # references' and ControlNet pictures (generation.guides)
            "SELECT DISTINCT json_extract(picture.value, '$.sha256') FROM jobs, "
            "json_each(jobs.request, '$.references') AS picture UNION "
            "SELECT DISTINCT json_extract(request, '$.control.sha256') FROM jobs "
            "WHERE json_extract(request, '$.control.sha256') IS NOT NULL"
        )
        self.inputs.prune({digest for (digest,) in named}, now)
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
