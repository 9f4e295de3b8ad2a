"""``muralist imagine --sref/--cref/--control`` on the built-in tiny models: each picture changes
the image and is recorded; weights and the control mode reach the request; mistakes exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from bot.cli import main
from tests.bot.cli_env import model_cache, offline_cpu, one_torch_thread  # noqa: F401

FAST = ["--steps", "3", "--seed", "3", "--count", "1", "--size", "64x64"]


def sketch(path: Path) -> Path:
    picture = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(picture).rectangle((10, 10, 50, 50), outline="black", width=3)
    picture.save(path)
    return path


def paint(out: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[dict, np.ndarray]:
    assert main(["imagine", "a harbour", "--json", "--out", str(out), *FAST, *extra]) == 0
    printed = json.loads(capsys.readouterr().out)
    return printed, np.asarray(Image.open(printed["paths"][0]))


def test_each_guide_changes_the_image_and_reaches_the_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    picture = str(sketch(tmp_path / "sketch.png"))
    _, plain = paint(tmp_path / "plain", capsys)
    styled, styled_pixels = paint(tmp_path / "s", capsys, "--sref", picture, "--sref-weight", "0.8")
    guided, guided_pixels = paint(
        tmp_path / "c", capsys, "--control", picture, "--control-mode", "canny:0.6"
    )
    assert not np.array_equal(plain, styled_pixels) and not np.array_equal(plain, guided_pixels)
    [reference] = styled["references"]
    assert (reference["kind"], reference["weight"]) == ("style", 0.8)
    assert (guided["control"]["mode"], guided["control"]["scale"]) == ("canny", 0.6)
    character, _ = paint(tmp_path / "x", capsys, "--cref", picture, "--model", "tiny-xl")
    assert character["references"][0]["weight"] == 0.6


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--control-mode", "lineart"], "control_mode"),
        (["--control", "SKETCH", "--control-mode", "depth"], "canny or lineart"),
        (["--sref", "SKETCH", "--sref-weight", "3"], "0..2"),
        (["--sref", "SKETCH", "--model", "tiny-sd2"], "IP-Adapter"),
        (["--cref", "nowhere.png"], "cannot read"),
    ],
)
def test_mistakes_exit_2_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], words: str
) -> None:
    picture = str(sketch(tmp_path / "sketch.png"))
    argv = [picture if word == "SKETCH" else word for word in extra]
    assert main(["imagine", "a harbour", "--out", str(tmp_path / "out"), *argv]) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.png"))
