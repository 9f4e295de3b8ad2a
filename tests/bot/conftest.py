"""Fixtures of the bot's tests: a loopback Discord that fails the test on any breach of limits,
the tiny engine built once per session, and the running bot."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings
from generation.engine_api import ImageEngine
from loopback import LoopbackDiscord
from tests.bot.harness import RunningBot, running_bot, test_settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def engine(tiny_cache: Path) -> ImageEngine:
    """One engine (and loaded tiny model) for the whole session.

    One torch thread: on this shared 2-core machine OpenMP's spinning threads make a 64² image
    take seconds instead of 0.2 s.
    """
    import torch

    from bot.wiring import build_engine

    torch.set_num_threads(1)

    return build_engine(test_settings(tiny_cache, tiny_cache))


@pytest.fixture
def settings(tmp_path: Path, tiny_cache: Path) -> Settings:
    return test_settings(tmp_path, tiny_cache)


@pytest.fixture
async def bot(
    loopback: LoopbackDiscord, settings: Settings, engine: ImageEngine
) -> AsyncIterator[RunningBot]:
    async with running_bot(loopback, settings, engine) as running:
        yield running
