"""The engine on the built-in tiny models (noise-like pictures: the weights are random)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from generation import schedulers
from generation.catalog import Catalog
from generation.config import EngineConfig
from generation.engine import DiffusersEngine
from generation.errors import InvalidRequest, ModelNotFound
from generation.loading import LoadedModel, PipelineLoader
from generation.png import parse_parameters, read_parameters
from generation.requests import GenerationRequest, StepProgress
from tests.generation.pixels import pixels

SMALL: dict[str, Any] = {"width": 64, "height": 64, "steps": 3}


def plain_call(model: LoadedModel, scheduler: str, seed: int, **kwargs: Any) -> np.ndarray:
    """What diffusers itself makes with these settings (the scheduler swapped in and back)."""
    pipe = model.pipe
    saved = pipe.scheduler
    pipe.scheduler = schedulers.build(scheduler, saved.config)
    try:
        image = pipe(generator=torch.Generator("cpu").manual_seed(seed), **kwargs).images[0]
    finally:
        pipe.scheduler = saved
    return np.asarray(image)


@pytest.mark.parametrize(
    ("model", "scheduler"),
    [("tiny", "DPM++ 2M Karras"), ("tiny", "Euler a"), ("tiny-xl", "Euler")],
)
def test_image_equals_a_plain_diffusers_call(
    engine: DiffusersEngine, loader: PipelineLoader, model: str, scheduler: str
) -> None:
    request = GenerationRequest(
        prompt="a lighthouse at dusk",
        negative_prompt="blurry" if model == "tiny" else "",
        model=model,
        width=64,
        height=96,
        steps=4,
        guidance=6.5,
        seed=1234,
        scheduler=scheduler,
    )
    [result] = engine.generate([request])
    expected = plain_call(
        loader.get(model),
        scheduler,
        1234,
        prompt="a lighthouse at dusk",
        negative_prompt=request.negative_prompt,
        num_inference_steps=4,
        guidance_scale=6.5,
        width=64,
        height=96,
    )
    assert np.array_equal(pixels(result.images[0].png), expected)


def test_same_request_and_seed_give_identical_pixels_and_another_seed_does_not(
    engine: DiffusersEngine,
) -> None:
    request = GenerationRequest(prompt="a red kite", seed=5, **SMALL)
    first = engine.generate([request])[0].images[0]
    again = engine.generate([request.model_copy(update={"request_id": "again"})])[0].images[0]
    other = engine.generate([request.model_copy(update={"seed": 6})])[0].images[0]
    assert np.array_equal(pixels(first.png), pixels(again.png))
    assert not np.array_equal(pixels(first.png), pixels(other.png))


def test_a_missing_seed_is_drawn_reported_and_reproducible(engine: DiffusersEngine) -> None:
    [result] = engine.generate([GenerationRequest(prompt="a red kite", count=2, **SMALL)])
    first, second = result.seeds
    assert second == (first + 1) % 2**32
    [again] = engine.generate([GenerationRequest(prompt="a red kite", seed=second, **SMALL)])
    diff = np.abs(pixels(result.images[1].png).astype(int) - pixels(again.images[0].png))
    assert diff.max() <= 1  # a batch of two may round the last bit differently from one


def test_compatible_requests_share_one_pipeline_call(
    engine: DiffusersEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = [
        GenerationRequest(prompt="a cat", negative_prompt="dog", seed=10, count=2, **SMALL),
        GenerationRequest(prompt="a very long boat on a lake", seed=99, **SMALL),
    ]
    solo = [engine.generate([request])[0] for request in alone]
    pipe_class = type(engine.loader.get("tiny").pipe)
    calls: list[int] = []
    original = pipe_class.__call__

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["prompt_embeds"].shape[0])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pipe_class, "__call__", counting)
    reports: list[StepProgress] = []
    batched = engine.generate(alone, on_progress=reports.append)
    assert calls == [3]  # one call, three images
    assert [r.step for r in reports] == [1, 2, 3]
    assert reports[0].request_ids == [r.request_id for r in alone]
    for one, together in zip(solo, batched, strict=True):
        assert together.seeds == one.seeds
        for a, b in zip(one.images, together.images, strict=True):
            diff = np.abs(pixels(a.png).astype(int) - pixels(b.png).astype(int))
            assert diff.max() <= 1  # batched kernels may round the last bit differently


def test_incompatible_requests_run_as_separate_calls_in_input_order(
    engine: DiffusersEngine,
) -> None:
    requests = [
        GenerationRequest(prompt="a", seed=1, **SMALL),
        GenerationRequest(prompt="b", seed=2, **{**SMALL, "width": 128}),
        GenerationRequest(prompt="c", seed=3, **SMALL),
    ]
    results = engine.generate(requests)
    assert [r.request_id for r in results] == [r.request_id for r in requests]
    assert [r.images[0].width for r in results] == [64, 128, 64]


def test_progress_can_carry_a_latent_preview_per_request(
    loader: PipelineLoader, engine_config: EngineConfig
) -> None:
    engine = DiffusersEngine(loader, engine_config, preview_every=2)
    requests = [
        GenerationRequest(prompt="a", seed=1, count=2, **{**SMALL, "steps": 4}),
        GenerationRequest(prompt="b", seed=2, **{**SMALL, "steps": 4}),
    ]
    reports: list[StepProgress] = []
    engine.generate(requests, on_progress=reports.append)
    with_preview = [r for r in reports if r.preview is not None]
    assert [(r.step, r.request_ids) for r in with_preview] == [
        (2, [requests[0].request_id]),
        (2, [requests[1].request_id]),
        (4, [requests[0].request_id]),
        (4, [requests[1].request_id]),
    ]
    grid = Image.open(io.BytesIO(with_preview[0].preview or b""))
    assert grid.size == (16, 8)  # two 8×8 latent previews side by side
    assert Image.open(io.BytesIO(with_preview[1].preview or b"")).size == (8, 8)


def test_cancelling_every_request_stops_the_pipeline_and_returns_no_images(
    engine: DiffusersEngine,
) -> None:
    requests = [GenerationRequest(prompt="a", seed=1, **{**SMALL, "steps": 8})]
    reports: list[StepProgress] = []
    results = engine.generate(
        requests, on_progress=reports.append, is_cancelled=lambda _id: len(reports) >= 2
    )
    assert results[0].cancelled and results[0].images == []
    assert [r.step for r in reports] == [1, 2]


def test_a_partly_cancelled_batch_finishes_the_rest(engine: DiffusersEngine) -> None:
    keep = GenerationRequest(prompt="a", seed=1, **SMALL)
    drop = GenerationRequest(prompt="b", seed=2, **SMALL)
    [solo] = engine.generate([keep])
    results = engine.generate([keep, drop], is_cancelled=lambda rid: rid == drop.request_id)
    assert not results[0].cancelled and len(results[0].images) == 1
    assert results[1].cancelled and results[1].images == []
    diff = np.abs(pixels(results[0].images[0].png).astype(int) - pixels(solo.images[0].png))
    assert diff.max() <= 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"width": 1088}, "width"),
        ({"width": 1024, "height": 1024, "model": "tiny-xl"}, "size"),  # over max_pixels below
        ({"scheduler": "Karras Euler 9000"}, "scheduler"),
        ({"prompt_edits": [{"from_step": 3, "prompt": "b"}]}, "prompt_edits"),
        ({"model": "no-such-model"}, "model"),
        ({"subseed": 3, "mode": "img2img", "init_image": b"png"}, "subseed"),
        ({"mode": "img2img", "init_image": b"png", "strength": 0.2}, "steps"),
    ],
)
def test_bad_requests_are_refused_up_front_naming_the_field(
    loader: PipelineLoader, changes: dict[str, Any], field: str
) -> None:
    config = EngineConfig(cache_dir=loader.config.cache_dir, device="cpu", max_pixels=512 * 512)
    engine = DiffusersEngine(loader, config)
    good = GenerationRequest(prompt="fine", seed=1, **SMALL)
    bad = GenerationRequest(**{"prompt": "a", "seed": 1, **SMALL, **changes})
    reports: list[StepProgress] = []
    with pytest.raises(InvalidRequest) as caught:
        engine.generate([good, bad], on_progress=reports.append)
    assert caught.value.field == field
    assert reports == []  # nothing ran, not even the good request's batch
    if field == "model":
        assert isinstance(caught.value, ModelNotFound)
    if field == "width":
        assert "64..1024" in caught.value.message
    if field == "scheduler":
        assert "DPM++ 2M Karras" in caught.value.message


def test_the_scheduler_is_swapped_per_request_without_leaking(engine: DiffusersEngine) -> None:
    pipe = engine.loader.get("tiny").pipe
    before = (type(pipe.scheduler), dict(pipe.scheduler.config))
    request = GenerationRequest(prompt="a", seed=1, scheduler="euler A", **SMALL)
    [result] = engine.generate([request])
    assert result.scheduler == "Euler a"
    assert (type(pipe.scheduler), dict(pipe.scheduler.config)) == before


def test_the_png_carries_the_settings_in_a1111_form(engine: DiffusersEngine) -> None:
    request = GenerationRequest(
        prompt="a (red)1.2 fox", negative_prompt="ugly", seed=77, guidance=5.5, **SMALL
    )
    [result] = engine.generate([request])
    parsed = parse_parameters(read_parameters(result.images[0].png) or "")
    assert parsed.prompt == "a (red)1.2 fox" and parsed.negative_prompt == "ugly"
    assert parsed.settings["Seed"] == "77"
    assert parsed.settings["Steps"] == "3"
    assert parsed.settings["CFG scale"] == "5.5"
    assert parsed.settings["Size"] == "64x64"
    assert parsed.settings["Sampler"] == "DPM++ 2M Karras"
    assert parsed.settings["Model"] == "tiny"
    assert result.images[0].parameters == read_parameters(result.images[0].png)


def _tiny_safety_checker(flag_everything: bool) -> tuple[Any, Any]:
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4,
                     "num_hidden_layers": 2, "vocab_size": 1000},
        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4,
                       "num_hidden_layers": 2, "image_size": 32, "patch_size": 8},
        projection_dim=32,
    )  # fmt: skip
    checker = StableDiffusionSafetyChecker(config).eval()
    if flag_everything:
        checker.concept_embeds_weights.data.fill_(-1.0)
    extractor = CLIPImageProcessor(crop_size=32, size={"shortest_edge": 32})
    return checker, extractor


@pytest.mark.parametrize("flag_everything", [True, False])
def test_the_models_safety_checker_verdict_is_recorded_not_applied(
    engine: DiffusersEngine, loader: PipelineLoader, flag_everything: bool
) -> None:
    request = GenerationRequest(prompt="a", seed=3, **SMALL)
    [unchecked] = engine.generate([request])
    assert unchecked.images[0].model_nsfw is None  # the tiny model ships no checker
    model = loader.get("tiny")
    checker, extractor = _tiny_safety_checker(flag_everything)
    checked = LoadedModel(model.name, model.family, model.pipe, checker, extractor)
    engine.loader = _Fixed(checked)  # type: ignore[assignment]
    [result] = engine.generate([request])
    assert result.images[0].model_nsfw is flag_everything
    assert np.array_equal(pixels(result.images[0].png), pixels(unchecked.images[0].png))
    assert pixels(result.images[0].png).any()  # not blacked out


class _Fixed:
    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.catalog = Catalog.load()

    def get(self, name: str) -> LoadedModel:
        return self.model


def test_img2img_equals_a_plain_img2img_call(
    engine: DiffusersEngine, loader: PipelineLoader
) -> None:
    [source] = engine.generate([GenerationRequest(prompt="a", seed=1, **SMALL)])
    request = GenerationRequest(
        prompt="b", seed=4, mode="img2img", init_image=source.images[0].png, strength=0.6,
        scheduler="DDIM", **{**SMALL, "steps": 5},
    )  # fmt: skip
    [result] = engine.generate([request])
    model = loader.get("tiny")
    img2img = model.img2img()
    saved = img2img.scheduler
    img2img.scheduler = schedulers.build("DDIM", model.pipe.scheduler.config)
    try:
        expected = img2img(
            "b",
            negative_prompt="",
            image=Image.open(io.BytesIO(source.images[0].png)).convert("RGB"),
            strength=0.6,
            num_inference_steps=5,
            guidance_scale=7.0,
            generator=torch.Generator("cpu").manual_seed(4),
        ).images[0]
    finally:
        img2img.scheduler = saved
    assert np.array_equal(pixels(result.images[0].png), np.asarray(expected))
    assert "Denoising strength: 0.6" in result.images[0].parameters


def test_upscale_doubles_the_size_with_vae_tiling_only_during_the_call(
    engine: DiffusersEngine, loader: PipelineLoader
) -> None:
    [source] = engine.generate([GenerationRequest(prompt="a", seed=1, **SMALL)])
    vae = loader.get("tiny").pipe.vae
    seen: list[bool] = []
    original = vae.decode

    def spying(*args: Any, **kwargs: Any) -> Any:
        seen.append(vae.use_tiling)
        return original(*args, **kwargs)

    vae.decode = spying
    try:
        request = GenerationRequest(
            prompt="a", seed=1, mode="upscale", init_image=source.images[0].png, **SMALL
        )
        [result] = engine.generate([request])
    finally:
        del vae.decode
    image = Image.open(io.BytesIO(result.images[0].png))
    assert image.size == (128, 128)
    assert result.images[0].width == 128
    assert seen and all(seen)
    assert not vae.use_tiling
    assert "Hires upscale: 2" in result.images[0].parameters


def test_a_corrupt_init_image_is_a_clear_error(engine: DiffusersEngine) -> None:
    request = GenerationRequest(
        prompt="a", seed=1, mode="img2img", init_image=b"not a png", **SMALL
    )
    with pytest.raises(InvalidRequest) as caught:
        engine.generate([request])
    assert caught.value.field == "init_image"
