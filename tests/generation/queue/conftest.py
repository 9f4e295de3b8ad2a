from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from generation.config import QueueConfig
from generation.queue import JobStore, QueueService
from generation.queue.runner import InProcessRunner
from generation.requests import GenerationRequest
from tests.generation.queue.fakes import FakeEngine


def request(prompt: str = "a lighthouse", **fields: object) -> GenerationRequest:
    values: dict[str, object] = {"width": 64, "height": 64, "steps": 2, "seed": 1}
    values.update(fields)
    return GenerationRequest(prompt=prompt, **values)  # type: ignore[arg-type]


def queue_config(tmp_path: Path, **fields: object) -> QueueConfig:
    values: dict[str, object] = {
        "db_path": tmp_path / "state.db",
        "images_dir": tmp_path / "images",
        "progress_interval_seconds": 0.0,
        "per_user_cap": 100,
    }
    values.update(fields)
    return QueueConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
async def service(tmp_path: Path, fake_engine: FakeEngine) -> AsyncIterator[QueueService]:
    config = queue_config(tmp_path)
    store = JobStore(config.db_path, config.images_dir)
    queue = QueueService(config, store, InProcessRunner(fake_engine))
    await queue.start()
    yield queue
    await queue.close()
    store.close()
