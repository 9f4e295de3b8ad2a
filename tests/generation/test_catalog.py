from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from generation.catalog import (
    Catalog,
    CatalogError,
    ModelSpec,
    checkpoint_family,
    folder_family,
)
from generation.errors import ModelLoadError, ModelNotFound
from generation.tiny import ensure_tiny_model, tiny_model_folder


def write_catalog(folder: Path, text: str) -> Path:
    path = folder / "models.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_catalog_has_the_builtin_and_the_models_people_ask_for() -> None:
    catalog = Catalog.load()
    expected = {
        "tiny": ("builtin", "sd1", (512, 512)),
        "tiny-xl": ("builtin", "sdxl", (1024, 1024)),
        "sd15": ("hub", "sd1", (512, 512)),
        "sd21": ("hub", "sd2", (768, 768)),
        "sdxl": ("hub", "sdxl", (1024, 1024)),
        "openjourney": ("hub", "sd1", (512, 512)),
        "waifu-diffusion": ("hub", "sd1", (512, 512)),
        "ghibli-diffusion": ("hub", "sd1", (512, 512)),
    }
    for name, (source, family, size) in expected.items():
        spec = catalog.resolve(name)
        assert (spec.source, spec.family, spec.native_size) == (source, family, size), name
        assert spec.scheduler and spec.description
    assert catalog.resolve("sdxl").hub == "stabilityai/stable-diffusion-xl-base-1.0"
    assert catalog.resolve("sd15").default_negative


def test_user_file_adds_and_overrides_entries_with_paths_relative_to_it(tmp_path: Path) -> None:
    user = write_catalog(
        tmp_path,
        """
[models.mine]
folder = "weights/mine"
family = "sd2"
description = "my fine-tune"

[models.from-file]
checkpoint = "ckpt/model.safetensors"
config = "configs/sd15"
family = "sd1"
native_size = [512, 768]

[models.sd15]
hub = "someone/sd15-mirror"
family = "sd1"
""",
    )
    catalog = Catalog.load(user)
    mine = catalog.resolve("mine")
    assert mine.folder == tmp_path / "weights" / "mine"
    assert mine.native_size == (768, 768)  # the sd2 default
    single = catalog.resolve("from-file")
    assert single.checkpoint == tmp_path / "ckpt" / "model.safetensors"
    assert single.config == tmp_path / "configs" / "sd15"
    assert single.native_size == (512, 768)
    assert catalog.resolve("sd15").hub == "someone/sd15-mirror"
    assert "tiny" in catalog  # shipped entries stay


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[models.x\n", "not valid TOML"),
        ('[models.x]\nhub = "a/b"\nfamily = "sd9"\n', "[models.x] family"),
        ('[models.x]\nhub = "a/b"\nfamily = "sd1"\nfamly = "sd1"\n', "[models.x] famly"),
        ('[models.x]\nfamily = "sd1"\n', "exactly one source"),
        ('[models.x]\nhub = "a/b"\nfolder = "f"\nfamily = "sd1"\n', "got hub, folder"),
        ('[models.x]\nfolder = "f"\nconfig = "c"\nfamily = "sd1"\n', "`config` only goes"),
        ('[models.x]\nhub = "a/b"\nfamily = "sd1"\nnative_size = 513\n', "native_size"),
        ('[models.x]\nhub = "not a repo id"\nfamily = "sd1"\n', "[models.x] hub"),
        ('[models.x]\ncheckpoint = "m.bin"\nfamily = "sd1"\n', "[models.x] checkpoint"),
        ('[models.x]\nbuiltin = "huge"\nfamily = "sd1"\n', "[models.x] builtin"),
        ('[models.x]\nhub = "a/b"\nfamily = "sd1"\nscheduler = "Euler z"\n', "unknown scheduler"),
        ('[model.x]\nhub = "a/b"\n', "unknown top-level key 'model'"),
        ("models = 3\n", "must be a table"),
    ],
)
def test_malformed_user_catalog_is_one_error_naming_file_and_field(
    tmp_path: Path, text: str, named: str
) -> None:
    user = write_catalog(tmp_path, text)
    with pytest.raises(CatalogError) as caught:
        Catalog.load(user)
    assert named in str(caught.value)
    assert str(user) in str(caught.value)
    assert caught.value.field == "engine.models_file"


def test_missing_user_catalog_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="does not exist"):
        Catalog.load(tmp_path / "nope.toml")


def test_paths_resolve_with_the_family_read_from_their_metadata(tiny_cache: Path) -> None:
    catalog = Catalog.load()
    sd = catalog.resolve(str(ensure_tiny_model("tiny", tiny_cache)))
    xl = catalog.resolve(str(ensure_tiny_model("tiny-xl", tiny_cache)))
    assert (sd.source, sd.family, sd.native_size) == ("folder", "sd1", (512, 512))
    assert (xl.source, xl.family, xl.native_size) == ("folder", "sdxl", (1024, 1024))
    assert catalog.resolve("tiny").location(tiny_cache) == str(
        tiny_model_folder("tiny", tiny_cache)
    )


def test_sd2_folder_is_recognised_by_its_text_encoder(tmp_path: Path) -> None:
    (tmp_path / "text_encoder").mkdir()
    (tmp_path / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    (tmp_path / "text_encoder" / "config.json").write_text('{"hidden_size": 1024}')
    assert folder_family(tmp_path, "m") == "sd2"


def test_unknown_names_and_unloadable_paths_are_named(tmp_path: Path) -> None:
    catalog = Catalog.load()
    with pytest.raises(ModelNotFound) as unknown:
        catalog.resolve("sd-99")
    assert "sd-99" in str(unknown.value) and "tiny" in str(unknown.value)
    assert unknown.value.field == "model"
    with pytest.raises(ModelLoadError, match="not a diffusers folder"):
        catalog.resolve(str(tmp_path))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ModelLoadError, match="checkpoint"):
        catalog.resolve(str(text))


def _safetensors_header_only(path: Path, keys: list[str]) -> Path:
    header = json.dumps(
        {
            key: {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}
            for i, key in enumerate(keys)
        }
    ).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4 * len(keys))
    return path


@pytest.mark.parametrize(
    ("key", "family"),
    [
        ("cond_stage_model.transformer.text_model.final_layer_norm.bias", "sd1"),
        ("cond_stage_model.model.ln_final.bias", "sd2"),
        ("conditioner.embedders.1.model.ln_final.bias", "sdxl"),
    ],
)
def test_checkpoint_family_comes_from_tensor_names(tmp_path: Path, key: str, family: str) -> None:
    path = _safetensors_header_only(tmp_path / "m.safetensors", ["model.diffusion_model.x", key])
    assert checkpoint_family(path, "m") == family
    assert Catalog.load().resolve(str(path)).family == family


def test_corrupt_checkpoint_is_a_load_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\xff" * 64)
    with pytest.raises(ModelLoadError, match=r"broken\.safetensors"):
        Catalog.load().resolve(str(path))


def test_correcting_the_family_keeps_an_explicit_size_only() -> None:
    default = ModelSpec(name="a", hub="o/r", family="sd1")
    explicit = ModelSpec(name="b", hub="o/r", family="sd1", native_size=[640, 512])
    assert default.with_family("sdxl").native_size == (1024, 1024)
    assert explicit.with_family("sdxl").native_size == (640, 512)


def test_a_downloaded_hub_model_is_listed_at_its_local_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    spec = Catalog.load().resolve("sd15")
    assert spec.location(tmp_path) == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    repo = tmp_path / "models--stable-diffusion-v1-5--stable-diffusion-v1-5"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    assert spec.location(tmp_path) == str(snapshot)


def test_the_catalog_names_real_checkpoints_for_every_family_and_draft() -> None:
    catalog = Catalog.load()
    hubs = {spec.name: spec.hub for spec in catalog if spec.hub}
    assert hubs["flux-dev"] == "black-forest-labs/FLUX.1-dev"
    assert hubs["flux-schnell"] == "black-forest-labs/FLUX.1-schnell"
    assert hubs["sd35-large"] == "stabilityai/stable-diffusion-3.5-large"
    assert hubs["sd35-large-turbo"] == "stabilityai/stable-diffusion-3.5-large-turbo"
    assert hubs["sd35-medium"] == "stabilityai/stable-diffusion-3.5-medium"
    assert hubs["sdxl-turbo"] == "stabilityai/sdxl-turbo"
    assert catalog.lora("sdxl-lightning-4step").hub == "ByteDance/SDXL-Lightning"
    assert catalog.lora("lcm-lora-sdxl").hub == "latent-consistency/lcm-lora-sdxl"
    families = {spec.family for spec in catalog if spec.builtin}
    assert families == {"sd1", "sd2", "sdxl", "flux", "sd3"}  # a stand-in for each family
    for draft in catalog.drafts():
        full = catalog.resolve(draft.draft_of or "")
        assert full.family == draft.family and draft.max_steps and not full.draft_of


def test_loras_and_embeddings_tables_parse_with_their_defaults(tmp_path: Path) -> None:
    user = tmp_path / "mine.toml"
    (tmp_path / "ink.safetensors").write_bytes(b"")
    user.write_text(
        '[loras.ink]\nfile = "ink.safetensors"\nfamily = "sdxl"\nweight = 0.6\n'
        '[embeddings.bad-hands]\nhub = "someone/bad-hands"\nfamily = "sd1"\n'
        '[models.ink-xl]\nbuiltin = "tiny-xl"\nfamily = "sdxl"\nloras = ["ink:0.5"]\n'
    )
    catalog = Catalog.load(user)
    assert catalog.lora("ink").file == tmp_path / "ink.safetensors"
    assert catalog.lora("ink").weight == 0.6 and catalog.lora("ink", "sdxl")
    assert catalog.embeddings["bad-hands"].token == "<bad-hands>"
    assert [(u.name, u.weight) for u in catalog.resolve("ink-xl").loras] == [("ink", 0.5)]


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        ('[loras.x]\nfamily = "sd1"\n', "[loras.x] entry: set exactly one source"),
        ('[loras.x]\nfile = "x.txt"\nfamily = "sd1"\n', "[loras.x] file: must be a .safetensors"),
        ('[loras.x]\nbuiltin = "tiny-lora"\nfamily = "sd1"\nweight = 5\n', "[loras.x] weight"),
        ('[models.d]\nbuiltin = "tiny"\nfamily = "sd1"\ndraft_of = "tiny-xl"\n', "draft_of"),
        ('[models.d]\nbuiltin = "tiny"\nfamily = "sd1"\nloras = ["tiny-xl-lora"]\n', "loras"),
        ('[models.d]\nbuiltin = "tiny"\nfamily = "sd1"\nsteps = 9\nmax_steps = 4\n', "max_steps"),
    ],
)
def test_a_broken_adapter_or_draft_entry_is_one_error_naming_it(
    tmp_path: Path, toml: str, says: str
) -> None:
    user = tmp_path / "broken.toml"
    user.write_text(toml)
    with pytest.raises(CatalogError) as caught:
        Catalog.load(user)
    assert says in str(caught.value)
