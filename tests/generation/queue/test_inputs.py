"""Input pictures are stored once per hash beside the images; job rows keep the hash only; the
engine (here or on a worker) gets the bytes back; the retention removes what no job names."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from generation.input_store import PRUNE_GRACE_SECONDS, InputMissing, InputStore
from generation.queue import Job, JobStatus, JobStore, QueueService
from generation.queue.runner import InProcessRunner
from generation.requests import GenerationRequest, GenerationResult
from tests.generation.queue.conftest import queue_config, request
from tests.generation.queue.fakes import FakeEngine

PNG = b"\x89PNG\r\n\x1a\n" + b"a member's picture" * 100


class RecordingEngine(FakeEngine):
    """Keeps what each request held when the engine got it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[GenerationRequest] = []

    def generate(
        self, requests: Sequence[GenerationRequest], **kwargs: Any
    ) -> list[GenerationResult]:
        self.seen += requests
        return super().generate(requests, **kwargs)


def image_job(png: bytes = PNG) -> Job:
    return Job(
        guild_id="g",
        channel_id="c",
        user_id="u",
        request=request(mode="img2img", init_image=png, strength=0.5),
    )


def test_a_picture_is_written_once_under_its_hash_and_read_back(tmp_path: Path) -> None:
    store = InputStore(tmp_path / "inputs")
    digest = store.put(PNG)
    assert digest == hashlib.sha256(PNG).hexdigest()
    path = store.path(digest)
    first_write = path.stat().st_ino  # not written again: the same file (its age restarts)
    assert store.put(PNG) == digest and path.stat().st_ino == first_write
    assert store.get(digest) == PNG
    assert [p.name for p in (tmp_path / "inputs").iterdir()] == [f"{digest}.png"]  # no partials
    with pytest.raises(InputMissing) as caught:
        store.get("0" * 64)
    assert caught.value.field == "image" and "attach it again" in caught.value.message


def test_a_job_row_keeps_the_hash_not_the_bytes(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "s.db", tmp_path / "images")
    saved = store.add(image_job())
    digest = hashlib.sha256(PNG).hexdigest()
    assert saved.request.init_image is None and saved.request.init_image_sha256 == digest
    [(row,)] = store._db.execute("SELECT request FROM jobs").fetchall()
    assert digest in row and len(row) < 2000  # base64 of the picture would be longer
    assert store.inputs.get(digest) == PNG
    assert store.get(saved.id).request.init_image_sha256 == digest  # type: ignore[union-attr]
    store.close()


async def test_the_engine_gets_the_bytes_back_when_the_job_runs(tmp_path: Path) -> None:
    config = queue_config(tmp_path)
    store = JobStore(config.db_path, config.images_dir)
    engine = RecordingEngine()
    queue = QueueService(config, store, InProcessRunner(engine))
    await queue.start()
    try:
        ticket = await queue.submit(
            guild_id="g",
            channel_id="c",
            user_id="u",
            request=request(mode="img2img", init_image=PNG, strength=0.5),
        )
        async with asyncio.timeout(20):
            async for _event in queue.events(ticket.job_id):
                pass
        assert queue.get(ticket.job_id).status is JobStatus.DONE
        [seen] = engine.seen
        assert seen.init_image == PNG and seen.init_image_sha256 == hashlib.sha256(PNG).hexdigest()
        assert queue.get(ticket.job_id).request.init_image is None  # what the row holds
    finally:
        await queue.close()
        store.close()


def test_the_retention_removes_pictures_no_stored_job_names(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "s.db", tmp_path / "images")
    old = store.add(image_job())
    kept = store.add(image_job(PNG + b"another picture"))
    now = time.time()
    store.finish(old.id, JobStatus.DONE)
    store._db.execute("UPDATE jobs SET finished_at=? WHERE id=?", (now - 40 * 86400, old.id))
    for path in store.inputs.folder.iterdir():  # written long ago, past the grace period
        os.utime(path, (now - 2 * PRUNE_GRACE_SECONDS, now - 2 * PRUNE_GRACE_SECONDS))
    assert store.purge(30, now) == 1
    remaining = {p.stem for p in store.inputs.folder.iterdir()}
    assert remaining == {kept.request.init_image_sha256}
    store.close()


def test_a_picture_just_stored_survives_a_purge_that_runs_before_its_row(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "s.db", tmp_path / "images")
    digest = store.inputs.put(PNG)  # its job row is not written yet
    store.purge(30)
    assert store.inputs.get(digest) == PNG
    store.close()


def test_a_picture_stored_long_ago_and_attached_again_survives_a_purge_before_its_row(
    tmp_path: Path,
) -> None:
    """The same sketch attached again weeks later: its file is old, the old job is purged, and
    the purge runs before the new job's row names the picture; the new job still has it."""
    store = JobStore(tmp_path / "s.db", tmp_path / "images")
    old = store.add(image_job())
    now = time.time()
    store.finish(old.id, JobStatus.DONE)
    store._db.execute("UPDATE jobs SET finished_at=? WHERE id=?", (now - 40 * 86400, old.id))
    for path in store.inputs.folder.iterdir():
        os.utime(path, (now - 40 * 86400, now - 40 * 86400))
    digest = store.inputs.put(PNG)  # attached again; its new job row is not written yet
    assert store.purge(30, now) == 1
    assert store.inputs.get(digest) == PNG
    store.close()
