"""The CLI tests' environment: the built-in models in a module's own cache, offline, on the CPU,
one torch thread. A test module imports these fixtures (they are autouse where they must be)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> None:
    """One CPU thread: a shared 2-core machine otherwise stalls torch's thread pool."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def offline_cpu(model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MURALIST_ENGINE__CACHE_DIR", str(model_cache))
    monkeypatch.setenv("MURALIST_ENGINE__DEVICE", "cpu")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("MURALIST_CONFIG", raising=False)


__all__ = ["model_cache", "offline_cpu", "one_torch_thread"]
