from __future__ import annotations

from pathlib import Path

from generation.tiny import ensure_tiny_model, has_real_clip_vocabulary


def test_tiny_model_is_built_once_and_loads_as_a_real_pipeline(tmp_path: Path) -> None:
    from diffusers import AutoPipelineForText2Image, StableDiffusionPipeline

    folder = ensure_tiny_model("tiny", tmp_path)
    assert (folder / "model_index.json").is_file()
    stamp = (folder / "unet").stat().st_mtime_ns
    assert ensure_tiny_model("tiny", tmp_path) == folder
    assert (folder / "unet").stat().st_mtime_ns == stamp
    pipe = AutoPipelineForText2Image.from_pretrained(folder)
    assert isinstance(pipe, StableDiffusionPipeline)
    assert pipe.vae_scale_factor == 8
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_tokenizer_uses_the_real_clip_vocabulary_when_installed(tmp_path: Path) -> None:
    from transformers import CLIPTokenizer

    folder = ensure_tiny_model("tiny", tmp_path)
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
    ids = tokenizer("a photo of a cat").input_ids
    if has_real_clip_vocabulary():
        assert ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    else:  # character-level fallback still brackets the text with the special tokens
        assert ids[0] == 49406 and ids[-1] == 49407 and len(ids) > 7
