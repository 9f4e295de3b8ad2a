from __future__ import annotations

import os
from pathlib import Path

import pytest

from generation.config import EngineConfig
from generation.engine import DiffusersEngine
from generation.loading import PipelineLoader

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test ever reaches the model hub


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> None:
    """One CPU thread: on a shared 2-core machine, torch's thread pool waits on busy cores and a
    64² image can take seconds instead of a tenth of one. Results are the same either way."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache per test run, so each built-in model is built once."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def engine_config(tiny_cache: Path) -> EngineConfig:
    return EngineConfig(cache_dir=tiny_cache, device="cpu")


@pytest.fixture(scope="session")
def loader(engine_config: EngineConfig) -> PipelineLoader:
    return PipelineLoader(engine_config)


@pytest.fixture
def engine(loader: PipelineLoader, engine_config: EngineConfig) -> DiffusersEngine:
    """A fresh engine (empty prompt cache) on the session's loaded models."""
    return DiffusersEngine(loader, engine_config)
