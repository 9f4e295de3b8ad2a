"""Studio on the real queue, SQLite and the tiny engine, built by the one start-up wiring."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.wiring import build_engine, open_studio
from generation.engine_api import ImageEngine
from generation.queue import JobStatus
from safety import ImageChecker
from safety.config import SafetyConfig
from studio import Finished, JobEvent, Notice, Studio, Submitted
from tests.stand_ins import SwitchDetector

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def studio_settings(tmp_path: Path, cache_dir: Path) -> Settings:
    """64² images, 2 steps, 2 images per request, every event at once."""
    return Settings.model_validate(
        {
            "discord": {"image_side": 64, "default_count": 2},
            "engine": {"cache_dir": str(cache_dir), "device": "cpu", "default_steps": 2},
            "queue": {
                "db_path": str(tmp_path / "state.db"),
                "images_dir": str(tmp_path / "images"),
                "progress_interval_seconds": 0.0,
            },
        }
    )


@pytest.fixture(scope="session")
def studio_engine(tmp_path_factory: pytest.TempPathFactory) -> ImageEngine:
    import torch

    torch.set_num_threads(1)
    cache = tmp_path_factory.mktemp("studio-models")
    return build_engine(studio_settings(cache, cache))


@pytest.fixture
def detector() -> SwitchDetector:
    return SwitchDetector()


@pytest.fixture
def settings(tmp_path: Path, studio_engine: ImageEngine) -> Settings:
    return studio_settings(tmp_path, tmp_path / "unused-cache")


@pytest.fixture
async def studio(
    settings: Settings, studio_engine: ImageEngine, detector: SwitchDetector
) -> AsyncIterator[Studio]:
    checker = ImageChecker(SafetyConfig(), detector=detector)
    async with open_studio(settings, studio_engine, image_checker=checker) as opened:
        yield opened
        # Let the jobs a test left behind finish: the runner's close does not wait for the
        # engine's thread, and the next test's engine shares the loaded pipeline.
        for _ in range(1200):
            if not opened.queue.store.by_status(JobStatus.QUEUED, JobStatus.RUNNING):
                break
            await asyncio.sleep(0.05)


async def outcome(studio: Studio, submitted: Submitted) -> JobEvent:
    """The job's last event: Finished, Failed or Blocked."""
    last: JobEvent | None = None
    async for event in studio.events(submitted.job_id):
        last = event
    assert last is not None
    return last


async def finished(studio: Studio, submitted: Submitted) -> Finished:
    event = await outcome(studio, submitted)
    assert isinstance(event, Finished), event
    return event


async def notices(studio: Studio, count: int, timeout: float = 5.0) -> list[Notice]:
    """The next ``count`` notices for the moderators (fails when fewer come in time)."""
    stream = studio.notices()
    return [await asyncio.wait_for(anext(stream), timeout) for _ in range(count)]


async def no_notice(studio: Studio) -> bool:
    """True when no notice is waiting."""
    try:
        await asyncio.wait_for(anext(studio.notices()), 0.05)
    except TimeoutError:
        return True
    return False
