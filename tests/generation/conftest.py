from __future__ import annotations

import os
from pathlib import Path

import pytest

from generation.config import EngineConfig

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test ever reaches the model hub


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache per test run, so each built-in model is built once."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture
def engine_config(tiny_cache: Path) -> EngineConfig:
    return EngineConfig(cache_dir=tiny_cache, device="cpu")
