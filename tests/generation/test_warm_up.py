"""Start-up: compiling only at warm-up (no request waits for a compile), the frozen heap, and
PNG encoding outside the engine's lock."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from generation import engine as engine_module
from generation.config import EngineConfig
from generation.engine import DiffusersEngine
from generation.loading import PipelineLoader
from generation.requests import GenerationRequest
from tests.generation.pixels import pixels


class Compiles:
    """torch.compile with a backend that records each graph it is asked to compile and runs
    it as traced (dynamo's tracing is real; no inductor, so a graph costs seconds, not a
    minute)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.graphs: list[tuple[int, ...]] = []
        real = torch.compile

        def backend(graph: Any, inputs: list[Any]) -> Any:
            first = next((i for i in inputs if isinstance(i, torch.Tensor) and i.dim() == 4), None)
            self.graphs.append(tuple(first.shape) if first is not None else ())
            return graph.forward

        def compile_(module: Any, *, mode: str = "default", dynamic: bool | None = None) -> Any:
            return real(module, backend=backend, dynamic=dynamic)

        monkeypatch.setattr(torch, "compile", compile_)


def request(width: int = 64, count: int = 2, seed: int = 1) -> GenerationRequest:
    return GenerationRequest(
        prompt="a lighthouse", width=width, height=64, steps=2, count=count, seed=seed
    )


@pytest.mark.slow
def test_warm_up_compiles_the_configured_shapes_and_no_request_compiles_later(
    tiny_cache: Path, monkeypatch: pytest.MonkeyPatch, engine: DiffusersEngine
) -> None:
    compiles = Compiles(monkeypatch)
    config = EngineConfig(
        cache_dir=tiny_cache,
        device="cpu",
        compile_unet=True,
        warmup_sizes=["64x64"],
        warmup_images=[2],
    )
    compiled = DiffusersEngine(PipelineLoader(config), config)
    done = compiled.warm_up()
    assert len(done) == 1 and "64x64 × 2" in done[0]
    at_start = len(compiles.graphs)
    assert at_start >= 1 and all(shape[0] == 4 for shape in compiles.graphs if shape)  # 2 × CFG

    warmed = compiled.generate([request()])[0]
    other = compiled.generate([request(width=128, count=1)])[0]  # not warmed: runs eager
    assert len(compiles.graphs) == at_start
    plain = [engine.generate([r])[0] for r in (request(), request(width=128, count=1))]
    for got, want in zip((warmed, other), plain, strict=True):
        assert [pixels(i.png).tolist() for i in got.images] == [
            pixels(i.png).tolist() for i in want.images
        ]


@pytest.mark.slow
def test_dynamic_shapes_compile_once_for_every_size(
    tiny_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiles = Compiles(monkeypatch)
    config = EngineConfig(
        cache_dir=tiny_cache, device="cpu", compile_unet=True, compile_shapes="dynamic"
    )
    compiled = DiffusersEngine(PipelineLoader(config), config)
    assert len(compiled.warm_up()) == 1  # one shape warms the one graph
    at_start = len(compiles.graphs)
    for width, count in ((64, 1), (128, 2), (64, 3)):
        assert compiled.generate([request(width=width, count=count)])[0].images
    assert len(compiles.graphs) == at_start
    cold = DiffusersEngine(PipelineLoader(config), config)  # loaded without a warm-up
    assert cold.generate([request()])[0].images  # runs eager rather than compiling now
    assert len(compiles.graphs) == at_start


def test_without_compile_warm_up_loads_the_model_and_freezes_the_heap(tiny_cache: Path) -> None:
    gc.unfreeze()
    config = EngineConfig(cache_dir=tiny_cache, device="cpu")
    fresh = DiffusersEngine(PipelineLoader(config), config)
    assert fresh.warm_up() == []
    assert "tiny" in fresh.loader._cache
    frozen = gc.get_freeze_count()
    assert frozen > 100_000  # torch, diffusers and the model: out of the collector's way
    off = EngineConfig(cache_dir=tiny_cache, device="cpu", gc_freeze=False)
    gc.unfreeze()
    PipelineLoader(off).get("tiny")
    assert gc.get_freeze_count() == 0


def test_pngs_are_encoded_after_the_engine_lock_is_released(
    engine: DiffusersEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    held: list[bool] = []
    real = engine_module.encode_png

    def encode(picture: Any, parameters: str | None = None, extra: Any = None) -> bytes:
        held.append(engine._lock.locked())
        return real(picture, parameters, extra)

    monkeypatch.setattr(engine_module, "encode_png", encode)
    result = engine.generate([request(count=2)])[0]
    assert held == [False, False]
    assert all(np.asarray(pixels(i.png)).shape == (64, 64, 3) for i in result.images)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("warmup_sizes", ["512"], "WIDTHxHEIGHT"),
        ("warmup_sizes", ["512x700"], "multiple of 8"),
        ("warmup_images", [0], "outside 1..16"),
    ],
)
def test_a_bad_warm_up_setting_is_refused_naming_it(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        EngineConfig(**{field: value})
    assert caught.value.errors()[0]["loc"][0] == field and message in str(caught.value)
