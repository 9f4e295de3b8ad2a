"""``muralist imagine --image PATH --strength X`` (and ``--tile``) on the built-in tiny model:
the picture is read as untrusted, as a Discord attachment is; a bad one exits 2 naming it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.cli import main
from generation.png import parse_parameters, read_parameters
from tests.bot.cli_env import model_cache, offline_cpu, one_torch_thread

__all__ = ["model_cache", "offline_cpu", "one_torch_thread"]  # the CLI tests' own fixtures

FAST = ["--steps", "4", "--seed", "3", "--count", "1"]


@pytest.fixture(autouse=True)
def small_images(offline_cpu: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """64² at the native pixel count (the picture's shape still shows in the size)."""
    monkeypatch.setenv("MURALIST_DISCORD__IMAGE_SIDE", "64")


def sketch(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (96, 64)) -> Path:
    picture = Image.new("RGB", size, colour)
    picture.paste((255, 255, 255), (0, 0, size[0] // 3, size[1]))
    picture.save(path)
    return path


def paint(out: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    assert main(["imagine", "a harbour", "--json", "--out", str(out), *FAST, *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_picture_changes_the_image_and_is_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    red = sketch(tmp_path / "red.png", (250, 0, 0))
    blue = sketch(tmp_path / "blue.jpg", (0, 0, 250))
    plain = paint(tmp_path / "plain", capsys)
    from_red = paint(tmp_path / "red", capsys, "--image", str(red), "--strength", "0.3")
    from_blue = paint(tmp_path / "blue", capsys, "--image", str(blue), "--strength", "0.3")
    assert from_red["width"] > from_red["height"]  # the picture's landscape shape
    assert plain["width"] == plain["height"]
    pictures = [np.asarray(Image.open(r["paths"][0]), dtype=float) for r in (from_red, from_blue)]
    assert np.abs(pictures[0] - pictures[1]).mean() > 10  # another picture, another image
    settings = parse_parameters(read_parameters(Path(from_red["paths"][0]).read_bytes()) or "")
    assert settings.settings["Denoising strength"] == "0.3"
    assert len(settings.settings["Init image hash"]) == 64


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"GIF89a broken", "damaged|not a picture"), (b"hello", "not a picture")],
)
def test_a_bad_picture_exits_2_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, words: str
) -> None:
    bad = tmp_path / "bad.gif"
    bad.write_bytes(content)
    assert main(["imagine", "a harbour", "--image", str(bad), "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "image" in error and any(word in error for word in words.split("|"))
    assert not list(tmp_path.glob("*.png"))


def test_a_missing_file_and_strength_out_of_range_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.png"
    assert main(["imagine", "a harbour", "--image", str(missing)]) == 2
    assert "cannot read" in capsys.readouterr().err
    picture = sketch(tmp_path / "ok.png", (0, 200, 0))
    assert main(["imagine", "a harbour", "--image", str(picture), "--strength", "2"]) == 2
    assert "0.05..1" in capsys.readouterr().err


def test_tile_writes_the_tile_and_its_2x2_repeat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = paint(tmp_path, capsys, "--tile")
    [path], [tiled] = report["paths"], report["tiled"]
    one, repeated = Image.open(path), Image.open(tiled)
    assert repeated.size == (2 * one.width, 2 * one.height)
    assert "Tiling: True" in (read_parameters(Path(path).read_bytes()) or "")
    assert main(["imagine", "a harbour", "--tile", "--model", "tiny-sd3"]) == 2
    assert "tile" in capsys.readouterr().err
