"""``muralist zoom``, ``pan`` and ``region`` on the built-in tiny model: the kept part of the
picture stays pixel for pixel, the new part is painted, the prompt comes from the PNG when not
given, and a bad option exits 2 naming it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.cli import main
from tests.bot.cli_env import model_cache, offline_cpu, one_torch_thread

__all__ = ["model_cache", "offline_cpu", "one_torch_thread"]  # the CLI tests' environment

FAST = ["--steps", "3", "--seed", "3"]


@pytest.fixture(autouse=True)
def small_images(offline_cpu: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MURALIST_DISCORD__IMAGE_SIDE", "64")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main([*argv, "--json", *FAST]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def pixels(path: Path | str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


@pytest.fixture
def painted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A picture the tiny model painted: its PNG carries its prompt."""
    assert main(["imagine", "a harbour", "--json", "--out", str(tmp_path / "a"), *FAST]) == 0
    return Path(json.loads(capsys.readouterr().out)["paths"][0])


def test_zoom_and_pan_keep_the_picture_and_paint_the_new_part(
    painted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zoomed = run(capsys, "zoom", str(painted), "--out", str(tmp_path / "z"))
    assert (zoomed["width"], zoomed["height"]) == (64, 64)  # the picture's own size
    before, after = pixels(painted), pixels(zoomed["paths"][0])
    assert np.abs(after[:6] - before[:6]).mean() > 5  # the border is new
    panned = run(capsys, "pan", str(painted), "--direction", "left", "--out", str(tmp_path / "p"))
    after = pixels(panned["paths"][0])
    # The old left two thirds moved right by a third (21 px), kept pixel for pixel.
    assert np.array_equal(after[:, 30:], before[:, 9:43])


def test_zoom_keeps_a_picture_larger_than_the_models_default_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wide = ["--size", "128x96", "--out", str(tmp_path / "w")]
    assert main(["imagine", "a harbour", "--json", *FAST, *wide]) == 0
    painted = json.loads(capsys.readouterr().out)["paths"][0]
    zoomed = run(capsys, "zoom", painted, "--factor", "1.5", "--out", str(tmp_path / "z"))
    assert (zoomed["width"], zoomed["height"]) == (128, 96)  # as the zoom button keeps it


def test_region_keeps_the_black_of_the_mask(
    painted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 64, 32))
    mask.save(tmp_path / "mask.png")
    done = run(
        capsys, "region", str(painted), "--mask", str(tmp_path / "mask.png"), "--prompt", "a sky"
    )
    before, after = pixels(painted), pixels(done["paths"][0])
    assert np.array_equal(after[32:], before[32:])
    assert np.abs(after[:24] - before[:24]).mean() > 5
    named = run(capsys, "region", str(painted), "--area", "center", "--out", str(tmp_path / "c"))
    after = pixels(named["paths"][0])
    assert np.array_equal(after[:14], before[:14]) and not np.array_equal(after, before)


def test_bad_input_exits_2_naming_the_option(
    painted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "plain.png"
    Image.new("RGB", (64, 64), (9, 9, 9)).save(plain)
    wrong = tmp_path / "wrong.png"
    Image.new("L", (64, 16), 255).save(wrong)
    for argv, field in (
        (["zoom", str(plain)], "prompt"),  # no prompt in this PNG, none given
        (["region", str(painted), "--mask", str(wrong)], "mask"),
        (["region", str(painted), "--mask", str(tmp_path / "none.png")], "mask"),
        (["region", str(painted), "--area", "center", "--strength", "2"], "strength"),
        (["pan", str(tmp_path / "none.png"), "--direction", "up"], "image"),
    ):
        assert main(argv) == 2
        assert f"error: {field}" in capsys.readouterr().err
