from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from generation.queue import (
    Job,
    JobNotFound,
    JobStatus,
    JobStore,
    Origin,
    StorageUnwritable,
    StoreCorrupt,
)
from generation.queue.store import MIGRATIONS
from generation.requests import GenerationResult
from tests.generation.queue.conftest import request
from tests.generation.queue.fakes import FakeEngine


def job(user: str = "u1", **fields: object) -> Job:
    return Job(guild_id="g1", channel_id="c1", user_id=user, request=request(), **fields)  # type: ignore[arg-type]


def result_for(job: Job) -> GenerationResult:
    return FakeEngine().generate([job.request.model_copy(update={"request_id": job.id})])[0]


def test_a_job_round_trips_with_every_field(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "s.db", tmp_path / "img")
    original = job(
        origin=Origin(kind="button", action="reroll", parent_job_id="abc"),
        priority="booster",
    ).model_copy(update={"channel_id": "1234567890123456780"})
    saved = store.add(original)
    assert saved.seq == 1
    loaded = store.get(saved.id)
    assert loaded == saved
    assert loaded.channel_id == "1234567890123456780"  # Discord ids exceed 2**53: kept as text
    assert loaded.request.prompt == "a lighthouse"


def test_schema_is_versioned_and_an_old_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    MIGRATIONS[0](db)
    db.execute(
        "INSERT INTO jobs (id, guild_id, channel_id, user_id, priority, origin, request, status,"
        " created_at) VALUES ('j1','g','c','u','default',?,?,'queued',1.0)",
        (Origin().model_dump_json(), request().model_dump_json()),
    )
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    store = JobStore(path, tmp_path / "img")
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    old = store.get("j1")
    assert old is not None and old.request.prompt == "a lighthouse"
    assert [j.id for j in store.recover()] == ["j1"]


def test_a_corrupt_file_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreCorrupt) as caught:
        JobStore(path, tmp_path / "img")
    assert str(path) in str(caught.value)
    assert "move the file aside" in str(caught.value)
    assert path.read_bytes().startswith(b"this is not sqlite")  # left as it was, nothing lost


def test_recover_requeues_undelivered_running_jobs_in_submission_order(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "s.db", tmp_path / "img")
    a, b, c, d = (store.add(job(user=f"u{i}")) for i in range(4))
    store.mark_running([b.id, c.id])
    store.finish(c.id, JobStatus.DONE)
    store.mark_delivered(c.id)
    store.close()
    reopened = JobStore(tmp_path / "s.db", tmp_path / "img")
    assert [j.id for j in reopened.recover()] == [a.id, b.id, d.id]
    done = reopened.get(c.id)
    assert done is not None and done.status is JobStatus.DONE


def test_delivery_is_idempotent_by_job_id(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "s.db", tmp_path / "img")
    saved = store.add(job())
    store.finish(saved.id, JobStatus.DONE)
    assert store.mark_delivered(saved.id) is True
    assert store.mark_delivered(saved.id) is False
    with pytest.raises(JobNotFound):
        store.mark_delivered("nope")
    assert store.finish(saved.id, JobStatus.FAILED, error="late duplicate") is False
    assert store.get(saved.id).status is JobStatus.DONE  # type: ignore[union-attr]


def test_images_are_saved_and_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "s.db", tmp_path / "img")
    saved = store.add(job())
    paths = store.save_images(saved.id, result_for(saved))
    assert paths[0].read_bytes().startswith(b"\x89PNG")
    blocked = tmp_path / "full"
    blocked.write_text("a file where a folder should be")
    broken = JobStore(tmp_path / "s.db", blocked)
    with pytest.raises(OSError):
        broken.save_images(saved.id, result_for(saved))


def test_retention_deletes_old_finished_jobs_and_their_images(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "s.db", tmp_path / "img")
    old, queued = store.add(job()), store.add(job())
    paths = store.save_images(old.id, result_for(old))
    store.finish(old.id, JobStatus.DONE, image_paths=paths)
    assert store.purge(30, now=time.time() + 29 * 86400) == 0
    assert store.purge(30, now=time.time() + 31 * 86400) == 1
    assert store.get(old.id) is None and not paths[0].exists()
    assert store.get(queued.id) is not None
    assert store.purge(0, now=time.time() + 1e9) == 0


def test_only_a_done_job_can_be_blocked_and_keeps_the_reason(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "s.db", tmp_path / "img")
    queued, done = store.add(job()), store.add(job())
    store.finish(done.id, JobStatus.DONE)
    assert store.block(queued.id, "nsfw") is False
    assert store.block(done.id, "nsfw") is True
    blocked = store.get(done.id)
    assert blocked is not None and blocked.status is JobStatus.BLOCKED and blocked.error == "nsfw"


def test_a_write_the_disk_refuses_is_named_not_raised_as_a_database_error(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "state.db", tmp_path / "img")
    store._db.execute("PRAGMA query_only = 1")  # SQLite's own SQLITE_READONLY on every write
    with pytest.raises(StorageUnwritable) as refused:
        store.add(job())
    assert refused.value.field == "db_path" and refused.value.summary == "its storage is read-only"
    store._db.execute("PRAGMA query_only = 0")
    assert store.add(job()).seq is not None
