"""``muralist prompt`` and ``muralist styles``, run through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main


@pytest.fixture(autouse=True)
def _no_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MURALIST_CONFIG", raising=False)
    monkeypatch.setenv("MURALIST_ENGINE__CACHE_DIR", str(tmp_path / "cache"))


def test_prompt_prints_what_the_model_gets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompt", "a (red:1.2) cat", "--style", "anime", "--negative", "dogs"]) == 0
    out = capsys.readouterr().out
    assert "compel:          anime style illustration of a (red)1.2 cat," in out
    assert "positive:        anime style illustration of a (red:1.2) cat," in out
    assert "negative:" in out and out.split("negative:", 1)[1].split("\n")[0].rstrip().endswith(
        "photorealistic, dogs"
    )
    # Counted with the default model's own tokenizer (read from its files; no weights loaded).
    assert "tokens:          20 in 1 chunk(s) [20], window 75\n" in out


def test_prompt_json_is_one_object_with_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "prompt",
            "a [cat:dog:0.5] (x:9)",
            "--json",
            "--no-default-negative",
            "--steps",
            "10",
            "--model-family",
            "sdxl",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["compel"] == "a cat (x)2"
    assert report["negative"] == "" and report["negative_compel"] == ""
    assert report["edits"] == [{"from_step": 5, "prompt": "a dog (x)2"}]
    assert report["tokens"]["total"] > 0 and report["tokens"]["estimated"] is False
    assert [w["code"] for w in report["warnings"]] == ["weight_clamped"]


def test_prompt_shows_one_variant_per_image(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompt", "{red|blue|green} car", "--count", "3", "--seed", "7", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)["per_image"]
    assert main(["prompt", "{red|blue|green} car", "--count", "3", "--seed", "7", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["per_image"] == first
    assert len(first) == 3


def test_the_count_is_imagines_1_to_4(capsys: pytest.CaptureFixture[str]) -> None:
    for count in ("0", "5"):
        assert main(["prompt", "a cat", "--count", count]) == 2
        err = capsys.readouterr().err.strip()
        assert err == f"muralist prompt: error: count: must be 1..4, got {count}"


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["prompt", "a cat", "--style", "animee"], "style"),
        (["prompt", "a cat", "--model-family", "sd3"], "model_family"),
        (["prompt", "a cat", "--syntax", "latex"], "syntax"),
        (["prompt", "a cat", "--steps", "0"], "steps"),
        (["prompt", "a cat", "--steps", "many"], "steps"),
        (["prompt", "a cat", "--count", "99"], "count"),
        (["prompt", "   "], "subject"),
        (["prompt", "x" * 3000], "subject"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_field(
    capsys: pytest.CaptureFixture[str], argv: list[str], field: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"muralist prompt: error: {field}:")


def test_styles_lists_every_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["styles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 20
    assert any(line.startswith("watercolor ") for line in lines)
    assert main(["styles", "--json"]) == 0
    presets = json.loads(capsys.readouterr().out)
    assert {"name", "description", "positive", "negative"} <= set(presets[0])


def test_styles_include_the_operators_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    presets = tmp_path / "presets.toml"
    presets.write_text('[presets.synthwave]\ndescription = "Neon"\npositive = "{prompt}, neon"\n')
    monkeypatch.setenv("MURALIST_PROMPTING__PRESETS_FILE", str(presets))
    assert main(["styles"]) == 0
    assert "synthwave" in capsys.readouterr().out
    assert main(["prompt", "a city", "--style", "synthwave", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["compel"] == "a city, neon"
    presets.write_text("[presets.broken\n")
    assert main(["styles"]) == 2
    assert capsys.readouterr().err.startswith("muralist styles: error: presets_file:")
