"""Storage faults: a state file the bot refuses stays byte for byte as it was; read-only and
full storage are named as such; a write that fails after a result was posted leaves the post
alone and is retried, and a restart does not post it again.

How each fault is made: refused files are built by hand (garbage, zero bytes, another program's
tables, newer schemas, a scribbled page); read-only folders are real (``chmod``, the bot run as
an unprivileged user when the tests run as root, since root ignores permission bits); a full
disk is SQLite's own ``SQLITE_FULL`` from ``PRAGMA max_page_count`` (no small file system is
needed); a failing write is SQLite's own ``SQLITE_READONLY`` from ``PRAGMA query_only``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import Settings
from bot.wiring import open_studio
from generation.engine_api import ImageEngine
from generation.queue import JobStore, StoreCorrupt
from generation.queue.store import MIGRATIONS
from loopback import LoopbackDiscord, Sent, StoredMessage
from studio.errors import SettingsStoreError
from tests.bot.harness import running_bot
from tests.faults.checks import (
    assert_each_job_delivered_once,
    assert_every_interaction_answered,
    assert_no_progress_left,
    delivered_jobs,
    job_of,
    result_posts,
)
from tests.faults.processes import ROOT


def _garbage(path: Path) -> None:
    path.write_bytes(b"definitely not a database " * 200)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _foreign(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE moz_places (url TEXT)")
    db.execute("INSERT INTO moz_places VALUES ('https://example.org')")
    db.commit()
    db.close()


def _jobs(path: Path, version: int) -> None:
    db = sqlite3.connect(path)
    MIGRATIONS[0](db)
    db.execute(f"PRAGMA user_version={version}")
    db.commit()
    db.close()


def _scribbled(path: Path) -> None:
    db = sqlite3.connect(path)
    MIGRATIONS[0](db)
    db.execute("PRAGMA user_version=1")
    for n in range(400):
        db.execute(
            "INSERT INTO jobs (id, guild_id, channel_id, user_id, priority, origin, request, "
            "status, created_at) VALUES (?, 'g', 'c', 'u', 'default', '{}', '{}', 'done', 1)",
            (f"job{n:04d}",),
        )
    db.commit()
    db.close()
    with open(path, "r+b") as handle:  # a b-tree page's header overwritten
        handle.seek(4096 * 2)
        handle.write(b"\xff" * 64)


def _newer_studio(path: Path) -> None:
    """A state file a newer Muralist wrote (WAL mode, as it leaves it), studio's schema 99."""
    JobStore(path, path.parent / "images").close()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE studio_meta (key TEXT PRIMARY KEY, value TEXT)")
    db.execute("INSERT INTO studio_meta VALUES ('schema_version', '99')")
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


REFUSED: dict[str, tuple[Callable[[Path], None], type[Exception], str]] = {
    "not sqlite": (_garbage, StoreCorrupt, "not a SQLite database"),
    "zero bytes": (_empty, StoreCorrupt, "empty (0 bytes)"),
    "another program's": (_foreign, StoreCorrupt, "another program's tables (moz_places)"),
    "newer job store": (lambda p: _jobs(p, 99), StoreCorrupt, "schema version 99 is newer"),
    "jobs, no version": (lambda p: _jobs(p, 0), StoreCorrupt, "without a schema version"),
    "scribbled page": (_scribbled, StoreCorrupt, "unreadable"),
    "newer studio": (_newer_studio, SettingsStoreError, "newer than this Muralist"),
}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", list(REFUSED))
async def test_a_refused_state_file_is_left_byte_for_byte(
    case: str, settings: Settings, engine: ImageEngine
) -> None:
    make, error, words = REFUSED[case]
    path = settings.queue.db_path
    path.parent.mkdir(parents=True, exist_ok=True)
    make(path)
    before = _digest(path)
    header = path.read_bytes()[:100]
    with pytest.raises(error) as refused:
        async with open_studio(settings, engine):
            pass
    assert words in str(refused.value)
    assert path.read_bytes()[:100] == header  # bytes 18, 19, 24–27, 92–99 among them
    assert _digest(path) == before
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # nothing written beside it either


def test_a_new_state_file_is_created_but_a_zero_byte_one_is_not(tmp_path: Path) -> None:
    JobStore(tmp_path / "new.db", tmp_path / "images").close()  # new: created
    (tmp_path / "old.db").touch()
    with pytest.raises(StoreCorrupt, match="empty"):
        JobStore(tmp_path / "old.db", tmp_path / "images")
    assert (tmp_path / "old.db").stat().st_size == 0


_NO_OVERRIDE = "-dac_override,-dac_read_search"


def _run_bot_bound_by_permissions(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``muralist bot`` held to file permissions: as root, without the capabilities that let
    root write into read-only folders (util-linux ``setpriv``); as any other user, as it is."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("root ignores file permissions and setpriv (util-linux) is missing")
        prefix = [setpriv, f"--inh-caps={_NO_OVERRIDE}", f"--bounding-set={_NO_OVERRIDE}", "--"]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "bot.cli", "bot"],
        cwd=ROOT,
        env=os.environ | env | {"PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.parametrize("where", ["state folder", "images folder"])
def test_a_read_only_folder_is_named_at_start_up(tmp_path: Path, where: str) -> None:
    state, images = tmp_path / "state", tmp_path / "images"
    state.mkdir()
    images.mkdir()
    if where == "state folder":
        JobStore(state / "state.db", images).close()  # an existing, healthy state file
        (state / "state.db").chmod(0o444)
        read_only = state
    else:
        read_only = images
    read_only.chmod(0o555)
    try:
        done = _run_bot_bound_by_permissions(
            {
                "MURALIST_DISCORD__TOKEN": "x",
                "MURALIST_DISCORD__API_BASE": "http://127.0.0.1:9/api/v10",
                "MURALIST_QUEUE__DB_PATH": str(state / "state.db"),
                "MURALIST_QUEUE__IMAGES_DIR": str(images),
                "MURALIST_QUEUE__REDIS_URL": "redis://127.0.0.1:9/0",  # no engine is built
            }
        )
    finally:
        read_only.chmod(0o755)
    error = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 1, done.stderr
    field = "db_path" if where == "state folder" else "images_dir"
    assert error.startswith(f"muralist bot: failed: {field} ") and "read-only" in error
    assert "restore a backup" not in error and "Traceback" not in done.stderr


def _fill(store: JobStore) -> None:
    """Cap the file at its current size (SQLite's ``max_page_count``) and fill its pages, as a
    full disk would: every further insert then fails with ``SQLITE_FULL``."""
    with store._lock:
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages}")
        number = 0
        for size in (4000, 2000, 1000, 500, 250, 120, 60):
            try:
                while True:
                    number += 1
                    store._db.execute(
                        "INSERT INTO jobs (id, guild_id, channel_id, user_id, priority, origin, "
                        "request, status, created_at, delivered) VALUES "
                        "(?, 'g', 'c', 'u', 'default', '{}', ?, 'done', 1, 1)",
                        (f"filler{number}", "x" * size),
                    )
            except sqlite3.OperationalError as exc:
                assert "full" in str(exc)


async def test_a_full_disk_is_named_to_the_member_and_in_the_log_without_a_traceback(
    loopback: LoopbackDiscord,
    settings: Settings,
    engine: ImageEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fay = loopback.add_user("fay")
    async with running_bot(loopback, settings, engine) as bot:
        _fill(bot.studio.queue.store)
        record = await loopback.slash("imagine", {"prompt": "a dune", "count": 1}, user=fay)
        await loopback.wait_for(lambda: bool(record.followup_ids))
        [told] = loopback.followups(record)
    assert told.ephemeral and "disk is full" in told.content
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("disk is full" in r.getMessage() for r in logged)
    assert all(r.exc_info is None for r in logged)
    assert_every_interaction_answered(loopback)


def _refuse_writes(settings_db: Path, connections: list[sqlite3.Connection], on: bool) -> None:
    for db in connections:
        db.execute(f"PRAGMA query_only = {int(on)}")


async def test_a_write_failing_after_the_post_keeps_the_post_retries_and_never_posts_twice(
    loopback: LoopbackDiscord,
    settings: Settings,
    engine: ImageEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gil = loopback.add_user("gil")
    db_path = settings.queue.db_path

    def failing() -> bool:
        return any("recording the delivery failed" in r.getMessage() for r in caplog.records)

    def is_result(message: StoredMessage) -> bool:
        return bool(message.embeds) and bool(message.components)

    async with running_bot(loopback, settings, engine, finish=False) as bot:
        studio = bot.studio
        connections = [studio.deliveries._db, studio.queue.store._db]

        async def storage_fails_at_the_post(sent: Sent) -> None:
            if sent.kind == "edit_original" and (sent.payload or {}).get("embeds"):
                loopback.before_answer = None
                _refuse_writes(db_path, connections, True)

        # 1. The write fails, then storage comes back: retried, delivered, the post untouched.
        loopback.before_answer = storage_fails_at_the_post
        first = await loopback.slash("imagine", {"prompt": "a pier", "count": 1}, user=gil)
        await loopback.wait_for(failing)
        shown = loopback.original(first)
        assert is_result(shown) and not delivered_jobs(db_path)[job_of(shown)]
        _refuse_writes(db_path, connections, False)
        await loopback.wait_for(lambda: delivered_jobs(db_path)[job_of(shown)], 60)

        # 2. The write fails and the bot dies before storage comes back.
        caplog.clear()
        loopback.before_answer = storage_fails_at_the_post
        second = await loopback.slash("imagine", {"prompt": "a jetty", "count": 1}, user=gil)
        await loopback.wait_for(failing)
        assert is_result(loopback.original(second))
    # A new process: the store writes again; the result is found in its reply, not posted again.
    async with running_bot(loopback, settings, engine):
        await loopback.wait_for(lambda: all(delivered_jobs(db_path).values()), 60)
    for record in (first, second):
        message = loopback.original(record)
        assert is_result(message) and not message.content.startswith("⚠️")
        assert len(result_posts(loopback, job_of(message))) == 1
    assert not loopback.channel_messages("art")
    assert_each_job_delivered_once(loopback, db_path)
    assert_no_progress_left(loopback)
    assert_every_interaction_answered(loopback)
