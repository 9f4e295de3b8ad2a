from __future__ import annotations

from pathlib import Path

import pytest
import torch

from generation.config import EngineConfig
from generation.errors import InvalidRequest
from generation.loading import PipelineLoader
from generation.merge import merge_models, weighted_sum
from generation.tiny import ensure_tiny_model


@pytest.fixture(scope="module")
def tiny_variant(tmp_path_factory: pytest.TempPathFactory, tiny_cache: Path) -> Path:
    """A second SD 1.x model: the tiny one with its UNet and text encoder nudged."""
    pipe = PipelineLoader(EngineConfig(cache_dir=tiny_cache, device="cpu")).get("tiny").pipe
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in (pipe.unet, pipe.text_encoder):
            for parameter in module.parameters():
                parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    folder = tmp_path_factory.mktemp("variant") / "tiny-b"
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def states(loader: PipelineLoader, model: str) -> dict[str, dict[str, torch.Tensor]]:
    pipe = loader.get(model).pipe
    return {name: getattr(pipe, name).state_dict() for name in ("unet", "text_encoder", "vae")}


def test_weighted_sum_of_unet_and_text_encoder_loads_and_paints(
    engine_config: EngineConfig, tiny_variant: Path, tmp_path: Path
) -> None:
    out = tmp_path / "merged"
    result = merge_models(engine_config, "tiny", str(tiny_variant), 0.25, out)
    assert result.folder == out and result.family == "sd1"
    assert result.components == ("unet", "text_encoder")
    loader = PipelineLoader(engine_config)
    a, b, merged = (
        states(loader, "tiny"),
        states(loader, str(tiny_variant)),
        states(loader, str(out)),
    )
    for name in ("unet", "text_encoder"):
        for key, value in merged[name].items():
            expected = 0.75 * a[name][key] + 0.25 * b[name][key]
            assert torch.allclose(value, expected, atol=1e-6), (name, key)
        assert any(not torch.equal(merged[name][k], a[name][k]) for k in a[name])
    assert all(torch.equal(merged["vae"][k], v) for k, v in a["vae"].items())  # A's VAE
    image = (
        loader.get(str(out))
        .pipe("a cat", num_inference_steps=2, height=64, width=64, output_type="np")
        .images
    )
    assert image.shape == (1, 64, 64, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["merged"]  # no staging folder left


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_alpha_ends_give_exactly_one_of_the_models(
    engine_config: EngineConfig, tiny_variant: Path, tmp_path: Path, alpha: float
) -> None:
    merge_models(engine_config, "tiny", str(tiny_variant), alpha, tmp_path / "m")
    loader = PipelineLoader(engine_config)
    expected = states(loader, "tiny" if alpha == 0.0 else str(tiny_variant))["unet"]
    merged = states(loader, str(tmp_path / "m"))["unet"]
    assert all(torch.equal(merged[k], v) for k, v in expected.items())


def test_models_of_different_families_are_refused(
    engine_config: EngineConfig, tmp_path: Path
) -> None:
    with pytest.raises(InvalidRequest, match=r"tiny \(sd1\) with tiny-xl \(sdxl\)") as caught:
        merge_models(engine_config, "tiny", "tiny-xl", 0.5, tmp_path / "m")
    assert caught.value.field == "model"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_alpha_outside_0_to_1_is_refused(
    engine_config: EngineConfig, tmp_path: Path, alpha: float
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        merge_models(engine_config, "tiny", "tiny", alpha, tmp_path / "m")
    assert caught.value.field == "alpha"


def test_an_existing_folder_is_never_overwritten(
    engine_config: EngineConfig, tmp_path: Path
) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(InvalidRequest, match="already exists") as caught:
        merge_models(engine_config, "tiny", "tiny", 0.5, out)
    assert caught.value.field == "out"
    assert (out / "keep.txt").read_text() == "mine"


def test_a_failed_write_leaves_nothing_behind(
    engine_config: EngineConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from diffusers import StableDiffusionPipeline

    ensure_tiny_model("tiny", engine_config.cache_dir)  # built before the disk "fills up"
    original = StableDiffusionPipeline.save_pretrained

    def save_then_fail(self: StableDiffusionPipeline, folder: Path, **kwargs: object) -> None:
        original(self, folder, **kwargs)  # a complete write, then the disk fills up
        raise OSError("No space left on device")

    monkeypatch.setattr(StableDiffusionPipeline, "save_pretrained", save_then_fail)
    with pytest.raises(OSError, match="No space"):
        merge_models(engine_config, "tiny", "tiny", 0.5, tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_different_architectures_of_one_family_are_refused() -> None:
    a = {"w": torch.zeros(2, 2), "b": torch.zeros(2)}
    with pytest.raises(InvalidRequest, match="differ in 1 tensors"):
        weighted_sum(a, {"w": torch.zeros(3, 2), "b": torch.zeros(2)}, 0.5, "unet")
    with pytest.raises(InvalidRequest, match="differ in 1 tensors"):
        weighted_sum(a, {"w": torch.zeros(2, 2)}, 0.5, "unet")
    ids = {"position_ids": torch.arange(3)}
    assert torch.equal(
        weighted_sum(ids, {"position_ids": torch.arange(3) * 2}, 0.5, "x")["position_ids"],
        ids["position_ids"],
    )
