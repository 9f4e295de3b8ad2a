"""LoRAs per job, embeddings by token, and the few-step draft entries, on the tiny models."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from generation.engine import DiffusersEngine
from generation.errors import InvalidRequest
from generation.loading import PipelineLoader
from generation.png import parse_parameters
from generation.requests import GenerationRequest
from tests.generation.pixels import pixels

SMALL: dict[str, Any] = {"width": 64, "height": 64, "steps": 3, "seed": 21}
FAMILY_LORAS = [
    ("tiny", "tiny-lora", {}),
    ("tiny-xl", "tiny-xl-lora", {"scheduler": "Euler"}),
    ("tiny-flux", "tiny-flux-lora", {"scheduler": "Euler"}),
    ("tiny-sd3", "tiny-sd3-lora", {"scheduler": "Euler"}),
]


def paint(engine: DiffusersEngine, **fields: Any) -> np.ndarray:
    request = GenerationRequest(**{"prompt": "a red fox", **SMALL, **fields})
    [result] = engine.generate([request])
    return pixels(result.images[0].png)


@pytest.mark.parametrize(("model", "lora", "extra"), FAMILY_LORAS)
def test_each_lora_weight_changes_the_image_and_weight_zero_equals_none(
    engine: DiffusersEngine, model: str, lora: str, extra: dict[str, Any]
) -> None:
    plain = paint(engine, model=model, **extra)
    images = [paint(engine, model=model, loras=[f"{lora}:{w}"], **extra) for w in (0.5, 1.0)]
    assert not np.array_equal(plain, images[0]) and not np.array_equal(images[0], images[1])
    assert np.array_equal(plain, paint(engine, model=model, loras=[f"{lora}:0"], **extra))


@pytest.mark.parametrize(("model", "lora", "extra"), FAMILY_LORAS[::2])
def test_a_lora_job_leaves_no_state_for_the_next_job(
    engine: DiffusersEngine, model: str, lora: str, extra: dict[str, Any]
) -> None:
    """With and without a LoRA in turn: the plain image stays pixel-equal throughout."""
    before = paint(engine, model=model, **extra)
    loads = []
    for _ in range(2):
        assert not np.array_equal(before, paint(engine, model=model, loras=[lora], **extra))
        loads.append(engine.loras.loads)
        assert np.array_equal(before, paint(engine, model=model, **extra))
    assert loads[0] == loads[1] <= 1  # loaded once at most, then only switched per job


def test_jobs_with_different_loras_never_share_a_batch(engine: DiffusersEngine) -> None:
    plain = GenerationRequest(prompt="a red fox", **SMALL)
    styled = GenerationRequest(prompt="a red fox", loras=["tiny-lora:0.8"], **SMALL)
    other = GenerationRequest(prompt="a red fox", loras=["tiny-lora:0.4"], **SMALL)
    assert len({r.batch_key() for r in (plain, styled, other)}) == 3
    together = engine.generate([plain, styled, other])
    alone = [engine.generate([r])[0] for r in (plain, styled, other)]
    for mixed, single in zip(together, alone, strict=True):
        assert np.array_equal(pixels(mixed.images[0].png), pixels(single.images[0].png))


def test_loras_are_recorded_in_the_png(engine: DiffusersEngine) -> None:
    [result] = engine.generate(
        [GenerationRequest(prompt="a fox", loras=["tiny-lora:0.6"], **SMALL)]
    )
    assert parse_parameters(result.images[0].parameters).settings["LoRAs"] == "tiny-lora:0.6"


@pytest.mark.parametrize(
    ("loras", "says"),
    [
        (["nope"], "unknown LoRA 'nope'"),
        (["tiny-flux-lora"], "is for flux models, not sd1"),
    ],
)
def test_an_unknown_or_foreign_lora_is_refused_naming_lora(
    engine: DiffusersEngine, loras: list[str], says: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        paint(engine, loras=loras)
    assert caught.value.field == "lora" and says in caught.value.message


@pytest.mark.parametrize(
    ("model", "token"), [("tiny", "<tiny-style>"), ("tiny-xl", "<tiny-xl-style>")]
)
def test_an_embedding_is_called_by_its_token_and_weighting_still_works(
    engine: DiffusersEngine, loader: PipelineLoader, model: str, token: str
) -> None:
    extra = {"scheduler": "Euler"} if model == "tiny-xl" else {}
    plain = paint(engine, model=model, prompt="a red fox", **extra)
    styled = paint(engine, model=model, prompt=f"a red fox, {token}", **extra)
    weighted = paint(engine, model=model, prompt=f"a red fox, ({token})1.4", **extra)
    assert not np.array_equal(plain, styled) and not np.array_equal(styled, weighted)
    pipe = loader.get(model).pipe
    assert f"{token}_1" in pipe.tokenizer.get_vocab()  # two vectors: token, token_1
    # loading it changed nothing for prompts without the token
    assert np.array_equal(plain, paint(engine, model=model, prompt="a red fox", **extra))


def test_a_multi_vector_token_is_expanded_for_compel(loader: PipelineLoader) -> None:
    from generation.flow_conditioning import TokenizerInversionManager

    engine = DiffusersEngine(loader, loader.config)
    paint(engine, prompt="<tiny-style>")  # loads the embedding
    pipe = loader.get("tiny").pipe
    manager = TokenizerInversionManager(pipe, pipe.tokenizer)
    ids = pipe.tokenizer.encode("a <tiny-style> fox", add_special_tokens=False)
    expanded = manager.expand_textual_inversion_token_ids_if_necessary(ids)
    assert len(expanded) == len(ids) + 1
    plain = pipe.tokenizer.encode("a red fox", add_special_tokens=False)
    assert manager.expand_textual_inversion_token_ids_if_necessary(plain) == plain


@pytest.mark.parametrize(
    ("model", "scheduler", "steps", "loras"),
    [
        ("tiny-lcm", "LCM", 4, "tiny-lcm-lora:1"),
        ("tiny-xl-lightning", "Euler SGM Uniform", 4, "tiny-xl-lightning-lora:1"),
        ("tiny-xl-turbo", "Euler a SGM Uniform", 1, None),
        ("tiny-flux-schnell", "Euler", 4, None),
        ("tiny-sd3-turbo", "Euler", 4, None),
    ],
)
def test_draft_entries_paint_with_their_samplers_and_loras(
    engine: DiffusersEngine,
    loader: PipelineLoader,
    model: str,
    scheduler: str,
    steps: int,
    loras: str | None,
) -> None:
    spec = loader.catalog.resolve(model)
    request = GenerationRequest(
        prompt="a red fox", model=model, scheduler=scheduler, steps=steps,
        guidance=spec.guidance or 0.0, width=64, height=64, seed=2,
    )  # fmt: skip
    [result] = engine.generate([request])
    settings = parse_parameters(result.images[0].parameters).settings
    assert settings["Sampler"] == scheduler and settings.get("LoRAs") == loras
    assert spec.draft_of is not None and spec.steps == steps


def test_a_draft_shares_the_full_models_pipeline(loader: PipelineLoader) -> None:
    assert loader.get("tiny-lcm").pipe is loader.get("tiny").pipe
    assert loader.get("tiny-lcm").spec is not loader.get("tiny").spec
