"""Style presets: shipped data, forgiving lookup, operator files and per-call guild presets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from prompting import Preset, PresetFileError, PromptError, PromptSpec, build, load_library
from prompting.presets import shipped_presets

REQUIRED = {
    "cinematic-photo",
    "portrait-photo",
    "anime",
    "watercolor",
    "oil-painting",
    "ink-sketch",
    "pixel-art",
    "3d-render",
    "isometric",
    "low-poly",
    "line-art",
    "fantasy-concept-art",
    "comic",
    "studio-product-shot",
}


def test_at_least_twenty_presets_ship_including_the_ones_people_ask_for() -> None:
    library = load_library()
    assert len(library) >= 20
    assert set(library.names()) >= REQUIRED
    for preset in library:
        assert preset.description
        assert preset.positive.count("{prompt}") == 1
        # Generic descriptors only: no "by <name>" or "in the style of <name>".
        assert not re.search(r"\bby [A-Z]|style of [A-Z]", preset.positive)


def test_a_preset_wraps_the_prompt_and_adds_its_negatives_once() -> None:
    built = build(PromptSpec(subject="a lighthouse", style="watercolor", negative="photo, fog"))
    assert built.positive_text.startswith("watercolor painting of a lighthouse, ")
    terms = [t.strip() for t in built.negative_text.split(",")]
    assert terms.count("photo") == 1 and "fog" in terms and "hard edges" in terms
    assert built.preset is not None and built.preset.name == "watercolor"


@pytest.mark.parametrize("name", ["Oil Painting", "oil_painting", "  OIL-painting "])
def test_names_are_forgiving_about_case_spaces_and_underscores(name: str) -> None:
    assert load_library().get(name).name == "oil-painting"


def test_an_unknown_preset_names_the_field_and_suggests_the_closest() -> None:
    with pytest.raises(PromptError) as error:
        build(PromptSpec(subject="a cat", style="watercolour"))
    assert error.value.field == "style"
    assert error.value.code == "unknown_preset"
    assert "'watercolor'" in str(error.value)


def test_a_huge_style_name_is_refused_before_any_lookup() -> None:
    with pytest.raises(PromptError) as error:
        build(PromptSpec(subject="a cat", style="x" * 10_000))
    assert error.value.field == "style" and "100" in error.value.message


def test_an_operator_file_extends_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "presets.toml"
    path.write_text(
        "[presets.synthwave]\n"
        'description = "Retro 80s neon"\n'
        'positive = "synthwave art of {prompt}, neon grid, sunset"\n'
        'negative = ["daylight"]\n'
        "cfg = 8.0\n"
        "[presets.anime]\n"
        'description = "House anime"\n'
        'positive = "house anime {prompt}"\n'
    )
    library = load_library(path)
    assert len(library) == len(shipped_presets()) + 1
    assert library.get("synthwave").cfg == 8.0
    assert library.get("anime").positive == "house anime {prompt}"


def test_guild_presets_are_passed_per_call_and_win() -> None:
    guild = Preset(name="House Style", positive="{prompt}, in our house style", negative=("logo",))
    built = build(PromptSpec(subject="a fox", style="house-style"), extra_presets=[guild])
    assert built.positive_text == "a fox, in our house style"
    assert "logo" in built.negative_text
    with pytest.raises(PromptError):  # only for that call
        build(PromptSpec(subject="a fox", style="house-style"))


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('[presets.x]\npositive = "no placeholder"\n', "presets.x.positive"),
        ('[presets.x]\npositive = "(weighted:1.3) {prompt}"\n', "presets.x.positive"),
        ('[presets.x]\npositive = "{prompt}"\ncfg = 99\n', "presets.x.cfg"),
        ('[presets.x]\npositive = "{prompt}"\ncolour = "red"\n', "presets.x.colour"),
        ('[presets.x]\nname = "y"\npositive = "{prompt}"\n', "presets.x.name"),
        ("[presets.x\n", "not valid TOML"),
        ('[styles.x]\npositive = "{prompt}"\n', "expected only [presets.NAME]"),
    ],
)
def test_a_bad_presets_file_is_one_clear_error(tmp_path: Path, body: str, where: str) -> None:
    path = tmp_path / "presets.toml"
    path.write_text(body)
    with pytest.raises(PresetFileError) as error:
        load_library(path)
    assert error.value.field == "presets_file"
    assert where in str(error.value)


def test_a_missing_presets_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PresetFileError, match="does not exist"):
        load_library(tmp_path / "nope.toml")


def test_a_folder_given_as_presets_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PresetFileError, match="cannot read") as error:
        load_library(tmp_path)
    assert error.value.field == "presets_file"
