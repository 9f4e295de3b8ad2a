"""FLUX.1 and SD 3.5 on their tiny stand-ins: they paint, reproduce, equal plain diffusers, and
refuse what the family cannot do with a message that names the field."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from generation.conditioning import PromptEncoder
from generation.engine import DiffusersEngine
from generation.errors import InvalidRequest
from generation.loading import PipelineLoader
from generation.png import parse_parameters
from generation.requests import GenerationRequest, StepProgress
from tests.generation.pixels import pixels

FLOW: dict[str, Any] = {"width": 64, "height": 64, "steps": 3, "scheduler": "Euler"}
FAMILIES = [("tiny-flux", 3.5), ("tiny-flux-schnell", 0.0), ("tiny-sd3", 4.5)]


def paint(engine: DiffusersEngine, **fields: Any) -> np.ndarray:
    [result] = engine.generate([GenerationRequest(**{"prompt": "a lighthouse", **FLOW, **fields})])
    return pixels(result.images[0].png)


@pytest.mark.parametrize(("model", "guidance"), FAMILIES)
def test_each_family_paints_and_a_seed_reproduces_its_image(
    engine: DiffusersEngine, model: str, guidance: float
) -> None:
    first = paint(engine, model=model, guidance=guidance, seed=7)
    assert first.shape == (64, 64, 3) and first.std() > 0
    assert np.array_equal(first, paint(engine, model=model, guidance=guidance, seed=7))
    assert not np.array_equal(first, paint(engine, model=model, guidance=guidance, seed=8))


def _tokens(pipe: Any, name: str) -> int:
    return int(getattr(pipe, name).model_max_length)


@pytest.mark.parametrize(("model", "guidance"), FAMILIES)
def test_the_image_equals_a_plain_diffusers_call(
    engine: DiffusersEngine, loader: PipelineLoader, model: str, guidance: float
) -> None:
    """compel's embeddings match the pipeline's own within float rounding, so the pixels match
    to within one level (diffusers passes T5 no attention mask, compel an all-ones one)."""
    loaded = loader.get(model)
    pipe = loaded.pipe
    extra: dict[str, Any] = {}
    if loaded.family == "flux":
        extra["max_sequence_length"] = _tokens(pipe, "tokenizer_2")
    else:
        extra |= {"negative_prompt": "blurry", "max_sequence_length": _tokens(pipe, "tokenizer_3")}
    ours = paint(
        engine,
        model=model,
        guidance=guidance,
        seed=11,
        negative_prompt=extra.get("negative_prompt", ""),
    )
    theirs = pipe(
        "a lighthouse",
        num_inference_steps=3,
        guidance_scale=guidance,
        width=64,
        height=64,
        generator=torch.Generator("cpu").manual_seed(11),
        output_type="np",
        **extra,
    ).images[0]
    theirs = (theirs * 255).round().astype(np.uint8)
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1


@pytest.mark.parametrize("model", ["tiny-flux", "tiny-sd3"])
def test_compel_conditioning_equals_the_pipelines_and_weights_change_it(
    loader: PipelineLoader, model: str
) -> None:
    loaded = loader.get(model)
    pipe = loaded.pipe
    encoder = PromptEncoder()
    plain = encoder.encode(loaded, "a lighthouse at dusk")
    if loaded.family == "flux":
        embeds, pooled, _ = pipe.encode_prompt(
            "a lighthouse at dusk", None, max_sequence_length=_tokens(pipe, "tokenizer_2")
        )
    else:
        embeds, _, pooled, _ = pipe.encode_prompt(
            "a lighthouse at dusk", None, None, do_classifier_free_guidance=False,
            max_sequence_length=_tokens(pipe, "tokenizer_3"),
        )  # fmt: skip
    assert plain.embeds.shape == embeds.shape
    assert torch.allclose(plain.embeds, embeds, atol=1e-5)
    assert torch.allclose(plain.pooled, pooled, atol=1e-5)
    weighted = encoder.encode(loaded, "a (lighthouse)1.5 at dusk")
    assert (weighted.embeds - plain.embeds).abs().max() > 1e-2


def test_a_long_prompt_is_read_by_t5_past_clips_77_tokens(loader: PipelineLoader) -> None:
    loaded = loader.get("tiny-sd3")
    encoder = PromptEncoder()
    words = " ".join(["red fox"] * 45)  # 90 CLIP tokens, about 180 of T5
    a = encoder.encode(loaded, f"{words}, a castle")
    b = encoder.encode(loaded, f"{words}, a meadow")
    clip_part, t5_part = slice(0, 77), slice(77, None)
    assert torch.equal(a.embeds[:, clip_part], b.embeds[:, clip_part])  # CLIP stops at 77
    assert not torch.allclose(a.embeds[:, t5_part], b.embeds[:, t5_part])  # T5 reads on


def test_flux_refuses_a_negative_prompt_naming_the_field(engine: DiffusersEngine) -> None:
    with pytest.raises(InvalidRequest) as caught:
        paint(engine, model="tiny-flux", negative_prompt="blurry")
    assert caught.value.field == "negative_prompt"
    assert "FLUX.1 models take no negative prompt" in caught.value.message


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"model": "tiny-flux", "scheduler": "DPM++ 2M Karras"}, "scheduler", "Euler only"),
        ({"model": "tiny-sd3", "scheduler": "LCM"}, "scheduler", "Euler only"),
        ({"model": "tiny-flux-schnell", "steps": 6}, "steps", "use 1..4"),
        ({"model": "tiny-flux", "width": 72}, "width", "in steps of 16"),
    ],
)
def test_what_a_family_cannot_do_is_a_clear_error(
    engine: DiffusersEngine, fields: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        paint(engine, **fields)
    assert caught.value.field == field and says in caught.value.message


def test_flux_guidance_is_its_own_setting_in_the_png(engine: DiffusersEngine) -> None:
    [result] = engine.generate(
        [GenerationRequest(prompt="a fox", model="tiny-flux", guidance=2.5, seed=1, **FLOW)]
    )
    settings = parse_parameters(result.images[0].parameters).settings
    assert settings["Distilled CFG Scale"] == "2.5" and settings["CFG scale"] == "1"
    low = paint(engine, model="tiny-flux", guidance=1.0, seed=1)
    assert not np.array_equal(low, pixels(result.images[0].png))  # dev's guidance input acts


@pytest.mark.parametrize("model", ["tiny-flux", "tiny-sd3"])
def test_edits_variations_previews_and_upscale_work_on_flow_models(
    engine: DiffusersEngine, model: str
) -> None:
    base = paint(engine, model=model, seed=3)
    edited = paint(engine, model=model, seed=3, prompt_edits=[{"from_step": 2, "prompt": "a dog"}])
    assert not np.array_equal(base, edited)
    varied = paint(engine, model=model, seed=3, subseed=9, subseed_strength=0.5)
    assert not np.array_equal(base, varied)
    assert np.array_equal(base, paint(engine, model=model, seed=3, subseed=9, subseed_strength=0))
    previews: list[StepProgress] = []
    previewing = DiffusersEngine(engine.loader, engine.config, preview_every=1)
    request = GenerationRequest(prompt="a", model=model, seed=3, **FLOW)
    [source] = previewing.generate([request], on_progress=previews.append)
    assert [p.step for p in previews] == [1, 2, 3] and all(p.preview for p in previews)
    upscale = GenerationRequest(
        prompt="a", model=model, seed=3, mode="upscale", init_image=source.images[0].png,
        **{**FLOW, "steps": 4},
    )  # fmt: skip
    [big] = engine.generate([upscale])
    assert pixels(big.images[0].png).shape == (96, 96, 3)  # ×1.5 for the 1024² families


def test_sd3_runs_without_its_t5_encoder(engine_config: Any, tmp_path: Any) -> None:
    from generation.catalog import Catalog, parse_catalog

    loader = PipelineLoader(engine_config)
    entries = {spec.name: spec for spec in Catalog.load()}
    entries |= parse_catalog(
        '[models.no-t5]\nbuiltin = "tiny-sd3"\nfamily = "sd3"\nt5 = false\nscheduler = "Euler"\n',
        origin="test",
        base=tmp_path,
    )
    loader.catalog = Catalog(entries, Catalog.load().loras)
    loaded = loader.get("no-t5")
    assert loaded.pipe.text_encoder_3 is None
    assert loaded.pipe is not loader.get("tiny-sd3").pipe  # other weights: its own pipeline
    encoded = PromptEncoder().encode(loaded, "a lighthouse")
    assert encoded.embeds.shape == (1, 77 + 256, 64) and not encoded.embeds[:, 77:].any()
    engine = DiffusersEngine(loader, engine_config)
    assert paint(engine, model="no-t5", seed=2).std() > 0
