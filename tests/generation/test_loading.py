from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from generation.catalog import Catalog, parse_catalog
from generation.config import EngineConfig
from generation.devices import Placement, place_pipeline
from generation.errors import ModelLoadError, ModelNotFound
from generation.loading import PipelineLoader
from generation.tiny import ensure_tiny_model
from tests.generation.original_layout import write_original_checkpoint


def paint(pipe: Any, seed: int = 7, size: int = 64) -> np.ndarray:
    """Two steps of the pipeline at a tiny size with a fixed CPU generator."""
    generator = torch.Generator("cpu").manual_seed(seed)
    result = pipe(
        "a lighthouse at dusk",
        negative_prompt="",
        num_inference_steps=2,
        height=size,
        width=size,
        generator=generator,
        output_type="np",
    )
    return np.asarray(result.images)


def catalog_with(toml: str, base: Path) -> Catalog:
    entries = {spec.name: spec for spec in Catalog.load()}
    entries.update(parse_catalog(toml, origin="test", base=base))
    return Catalog(entries)


def test_builtin_model_loads_on_cpu_fp32_with_its_catalog_entry(
    engine_config: EngineConfig,
) -> None:
    loaded = PipelineLoader(engine_config).get("tiny")
    assert (loaded.name, loaded.family, loaded.device, loaded.dtype) == (
        "tiny",
        "sd1",
        "cpu",
        torch.float32,
    )
    assert loaded.spec is not None and loaded.spec.native_size == (512, 512)
    assert loaded.options == []
    assert type(loaded.pipe).__name__ == "StableDiffusionPipeline"
    assert type(loaded.img2img()).__name__ == "StableDiffusionImg2ImgPipeline"
    assert loaded.img2img().unet is loaded.pipe.unet  # shared weights, no second load


def test_every_memory_option_is_applied_to_the_pipeline(tiny_cache: Path) -> None:
    config = EngineConfig(
        cache_dir=tiny_cache,
        device="cpu",
        attention_slicing=True,
        vae_slicing=True,
        vae_tiling=True,
        channels_last=True,
    )
    loaded = PipelineLoader(config).get("tiny")
    pipe = loaded.pipe
    processors = pipe.unet.attn_processors.values()
    assert {type(p).__name__ for p in processors} == {"SlicedAttnProcessor"}
    assert all(p.slice_size >= 1 for p in processors)
    assert pipe.vae.use_slicing and pipe.vae.use_tiling
    assert pipe.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert not pipe.unet.conv_in.weight.is_contiguous()
    assert loaded.options == ["channels_last", "attention_slicing", "vae_slicing", "vae_tiling"]
    assert paint(pipe).shape == (1, 64, 64, 3)  # still paints


def test_without_options_the_pipeline_is_left_as_diffusers_builds_it(
    engine_config: EngineConfig,
) -> None:
    pipe = PipelineLoader(engine_config).get("tiny").pipe
    assert "SlicedAttnProcessor" not in {
        type(p).__name__ for p in pipe.unet.attn_processors.values()
    }
    assert not pipe.vae.use_slicing and not pipe.vae.use_tiling
    assert pipe.unet.conv_in.weight.is_contiguous()
    assert not hasattr(pipe.unet, "_hf_hook")


def test_compile_unet_wraps_the_unet_in_a_compiled_module(tiny_cache: Path) -> None:
    config = EngineConfig(cache_dir=tiny_cache, device="cpu", compile_unet=True)
    loaded = PipelineLoader(config).get("tiny")
    assert isinstance(loaded.pipe.unet, torch._dynamo.eval_frame.OptimizedModule)
    assert loaded.options == ["compile_unet"]


def test_fuse_qkv_fuses_the_attention_projections_and_paints_the_same(
    tiny_cache: Path, loader: PipelineLoader
) -> None:
    config = EngineConfig(cache_dir=tiny_cache, device="cpu", fuse_qkv=True)
    fused = PipelineLoader(config).get("tiny")
    assert fused.options == ["fuse_qkv"]
    assert {type(p).__name__ for p in fused.pipe.unet.attn_processors.values()} == {
        "FusedAttnProcessor2_0"
    }

    def paint(pipe: Any) -> Any:
        generator = torch.Generator().manual_seed(0)
        return pipe(
            "a lighthouse", num_inference_steps=2, width=64, height=64, generator=generator,
            output_type="np",
        ).images  # fmt: skip

    assert np.allclose(paint(fused.pipe), paint(loader.get("tiny").pipe), atol=1e-5)


def test_fuse_qkv_and_attention_slicing_are_refused_together() -> None:
    with pytest.raises(ValueError, match="choose one"):
        EngineConfig(fuse_qkv=True, attention_slicing=True)


@pytest.mark.parametrize("mode", ["model", "sequential"])
def test_cpu_offload_is_skipped_with_a_warning_on_a_cpu(
    tiny_cache: Path, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = EngineConfig(cache_dir=tiny_cache, device="cpu", cpu_offload=mode)
    with caplog.at_level(logging.WARNING, logger="generation.devices"):
        loaded = PipelineLoader(config).get("tiny")
    assert f"cpu_offload={mode} needs a GPU" in caplog.text
    assert not hasattr(loaded.pipe.unet, "_hf_hook")
    assert loaded.options == []
    assert loaded.pipe.unet.device.type == "cpu"


def test_model_cpu_offload_installs_accelerate_hooks_towards_the_gpu(tiny_cache: Path) -> None:
    from accelerate.hooks import CpuOffload
    from diffusers import AutoPipelineForText2Image

    pipe = AutoPipelineForText2Image.from_pretrained(ensure_tiny_model("tiny", tiny_cache))
    config = EngineConfig(cache_dir=tiny_cache, cpu_offload="model")
    # Installing the hooks needs no GPU; running them would.
    applied = place_pipeline(pipe, config, Placement("cuda", "fp32"))
    assert applied == ["model_cpu_offload"]
    assert isinstance(pipe.unet._hf_hook, CpuOffload)
    assert isinstance(pipe.text_encoder._hf_hook, CpuOffload)
    assert str(pipe._offload_device) == "cuda:0"
    assert pipe.unet.device.type == "cpu"  # the weights wait on the CPU


@pytest.mark.skipif(not torch.cuda.is_available(), reason="sequential offload needs CUDA")
def test_sequential_cpu_offload_streams_weights_to_the_gpu(tiny_cache: Path) -> None:
    config = EngineConfig(cache_dir=tiny_cache, device="cuda", cpu_offload="sequential")
    loaded = PipelineLoader(config).get("tiny")
    assert loaded.options == ["sequential_cpu_offload"]
    assert type(loaded.pipe.unet._hf_hook).__name__ == "AlignDevicesHook"
    assert paint(loaded.pipe).shape == (1, 64, 64, 3)


def test_lru_keeps_the_configured_number_of_pipelines(tiny_cache: Path) -> None:
    one = PipelineLoader(EngineConfig(cache_dir=tiny_cache, device="cpu", pipeline_cache_size=1))
    first = one.get("tiny")
    assert one.get("tiny") is first
    one.get("tiny-xl")
    assert one.get("tiny") is not first  # evicted and reloaded
    two = PipelineLoader(EngineConfig(cache_dir=tiny_cache, device="cpu", pipeline_cache_size=2))
    first = two.get("tiny")
    assert two.get("tiny-xl").family == "sdxl"
    assert two.get("tiny") is first


def test_an_evicted_pipeline_is_freed_before_its_memory_is_given_back(
    tiny_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The collection that follows an eviction must find the pipeline unreferenced."""
    import gc
    import weakref

    from generation import loading

    loader = PipelineLoader(EngineConfig(cache_dir=tiny_cache, device="cpu", pipeline_cache_size=1))
    evicted = weakref.ref(loader.get("tiny").pipe)
    alive_after_collect: list[bool] = []
    real_collect = gc.collect

    def collect() -> int:
        found = real_collect()
        alive_after_collect.append(evicted() is not None)
        return found

    monkeypatch.setattr(loading.gc, "collect", collect)
    loader.get("tiny-xl")
    assert alive_after_collect == [False]


def test_a_local_folder_loads_by_path_and_paints_like_the_builtin(
    engine_config: EngineConfig, tmp_path: Path
) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(ensure_tiny_model("tiny", engine_config.cache_dir), folder)
    loader = PipelineLoader(engine_config)
    by_path = loader.get(str(folder))
    assert by_path.spec is not None and by_path.spec.source == "folder"
    assert np.array_equal(paint(by_path.pipe), paint(loader.get("tiny").pipe))


def test_single_file_checkpoint_paints_pixel_equal_to_from_pretrained(
    engine_config: EngineConfig, tmp_path: Path
) -> None:
    folder = ensure_tiny_model("tiny", engine_config.cache_dir)
    loader = PipelineLoader(engine_config)
    reference = loader.get("tiny")
    checkpoint = write_original_checkpoint(reference.pipe, tmp_path / "tiny.safetensors")
    # The config folder needs configs and the tokenizer only, not weights.
    configs = tmp_path / "sd-configs"
    shutil.copytree(folder, configs, ignore=shutil.ignore_patterns("*.safetensors"))
    loader.catalog = catalog_with(
        f'[models.single]\ncheckpoint = "{checkpoint}"\nconfig = "{configs}"\nfamily = "sd1"\n',
        tmp_path,
    )
    single = loader.get("single")
    assert single.spec is not None and single.spec.source == "checkpoint"
    assert type(single.pipe).__name__ == "StableDiffusionPipeline"
    assert np.array_equal(paint(single.pipe, seed=11), paint(reference.pipe, seed=11))


def test_checkpoint_without_a_config_folder_says_how_to_load_it_offline(
    engine_config: EngineConfig, tmp_path: Path
) -> None:
    loader = PipelineLoader(engine_config)
    checkpoint = write_original_checkpoint(loader.get("tiny").pipe, tmp_path / "t.safetensors")
    with pytest.raises(ModelLoadError, match="config = a local diffusers folder"):
        loader.get(str(checkpoint))  # diffusers would fetch the configs from the hub


def test_sdxl_original_layout_round_trips_through_diffusers_converters(
    engine_config: EngineConfig,
) -> None:
    """The SDXL checkpoint writer is exact (the UNet, VAE and OpenCLIP encoder conversions).

    Loading the tiny SDXL checkpoint through ``from_single_file`` is not possible: its two text
    encoders have the same width, which diffusers' single-file loader cannot tell apart (real
    SDXL's 768 and 1280 it can).
    """
    from diffusers.loaders.single_file_utils import (
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
        convert_open_clip_checkpoint,
    )

    from tests.generation.original_layout import (
        SDXL_OPEN_CLIP_PREFIX,
        open_clip_to_original,
        unet_to_original,
        vae_to_original,
    )

    pipe = PipelineLoader(engine_config).get("tiny-xl").pipe
    encoder = pipe.text_encoder_2
    pairs = [
        (
            pipe.unet.state_dict(),
            convert_ldm_unet_checkpoint(
                unet_to_original(pipe.unet.state_dict(), pipe.unet.config), pipe.unet.config
            ),
        ),
        (
            pipe.vae.state_dict(),
            convert_ldm_vae_checkpoint(
                vae_to_original(pipe.vae.state_dict(), pipe.vae.config), pipe.vae.config
            ),
        ),
        (
            encoder.state_dict(),
            convert_open_clip_checkpoint(
                encoder,
                open_clip_to_original(encoder.state_dict(), SDXL_OPEN_CLIP_PREFIX),
                prefix=SDXL_OPEN_CLIP_PREFIX,
            ),
        ),
    ]
    for original, back in pairs:
        assert back.keys() == original.keys()
        assert all(torch.equal(back[key], value) for key, value in original.items())


def test_missing_sources_are_model_not_found_naming_the_model(
    engine_config: EngineConfig, tmp_path: Path
) -> None:
    loader = PipelineLoader(engine_config)
    loader.catalog = catalog_with(
        '[models.gone]\nfolder = "nowhere"\nfamily = "sd1"\n'
        '[models.gone-ckpt]\ncheckpoint = "nowhere.safetensors"\nfamily = "sd1"\n'
        f'[models.no-config]\ncheckpoint = "{tmp_path / "x.safetensors"}"\n'
        'config = "no-configs"\nfamily = "sd1"\n',
        tmp_path,
    )
    (tmp_path / "x.safetensors").write_bytes(b"")
    for name, what in [("gone", "folder"), ("gone-ckpt", "checkpoint"), ("no-config", "config")]:
        with pytest.raises(ModelNotFound, match=f"'{name}': its {what}"):
            loader.get(name)
    with pytest.raises(ModelNotFound, match="unknown model 'sd-99'"):
        loader.get("sd-99")


def test_corrupt_folder_and_checkpoint_are_load_errors_naming_the_model(
    engine_config: EngineConfig, tmp_path: Path
) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(ensure_tiny_model("tiny", engine_config.cache_dir), folder)
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 100)
    loader = PipelineLoader(engine_config)
    with pytest.raises(ModelLoadError) as caught:
        loader.get(str(folder))
    assert str(folder) in str(caught.value) and caught.value.field == "model"
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a pickle")
    configs = ensure_tiny_model("tiny", engine_config.cache_dir)
    loader.catalog = catalog_with(
        f'[models.garbage]\ncheckpoint = "{garbage}"\nconfig = "{configs}"\nfamily = "sd1"\n',
        tmp_path,
    )
    with pytest.raises(ModelLoadError, match="cannot load garbage"):
        loader.get("garbage")


def test_hub_model_without_hub_access_is_a_load_error_with_a_hint(
    engine_config: EngineConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError) as caught:
        PipelineLoader(engine_config).get("sd15")
    message = str(caught.value)
    assert "sd15" in message and "stable-diffusion-v1-5/stable-diffusion-v1-5" in message
    assert "HF_HUB_OFFLINE" in message


def test_a_wrong_family_in_the_catalog_is_corrected_on_load(
    engine_config: EngineConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = ensure_tiny_model("tiny", engine_config.cache_dir)
    loader = PipelineLoader(engine_config)
    loader.catalog = catalog_with(
        f'[models.mislabelled]\nfolder = "{folder}"\nfamily = "sd2"\n', tmp_path
    )
    with caplog.at_level(logging.WARNING, logger="generation.loading"):
        loaded = loader.get("mislabelled")
    assert loaded.family == "sd1" and loaded.spec is not None
    assert loaded.spec.native_size == (512, 512)
    assert "listed as sd2 but loaded as sd1" in caplog.text


def test_fp16_asked_on_a_cpu_loads_fp32_weights(tiny_cache: Path) -> None:
    loaded = PipelineLoader(EngineConfig(cache_dir=tiny_cache, device="cpu", dtype="fp16")).get(
        "tiny"
    )
    assert loaded.dtype == torch.float32
    assert loaded.pipe.unet.dtype == torch.float32


def test_the_safety_checker_is_detached_so_diffusers_never_blacks_out_an_image(
    engine_config: EngineConfig, tmp_path: Path
) -> None:
    from diffusers import AutoPipelineForText2Image
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    tiny = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2)
    clip = CLIPConfig(
        text_config=dict(tiny, vocab_size=1000),
        vision_config=dict(tiny, image_size=32, patch_size=4),
        projection_dim=32,
    )
    torch.manual_seed(0)
    checker = StableDiffusionSafetyChecker(clip)
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(-1.0)  # flags every image
    folder = tmp_path / "with-checker"
    pipe = AutoPipelineForText2Image.from_pretrained(
        ensure_tiny_model("tiny", engine_config.cache_dir),
        safety_checker=checker,
        feature_extractor=CLIPImageProcessor(crop_size=32, size=32),
        requires_safety_checker=True,
    )
    pipe.save_pretrained(folder, safe_serialization=True)

    loaded = PipelineLoader(engine_config).get(str(folder))
    assert loaded.pipe.safety_checker is None
    assert isinstance(loaded.safety_checker, StableDiffusionSafetyChecker)
    assert next(loaded.safety_checker.parameters()).device.type == "cpu"
    images = paint(loaded.pipe)
    assert images.std() > 0  # not blacked out by diffusers...
    clip_input = loaded.feature_extractor(list(images), return_tensors="pt").pixel_values
    _, flagged = loaded.safety_checker(images=images, clip_input=clip_input)
    assert flagged == [True]  # ...although the model's own checker flags it
