"""``muralist imagine`` and ``muralist schedulers`` run in-process on the built-in tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.cli import main
from generation.png import COMPEL_KEY, parse_parameters, read_parameters
from generation.schedulers import SCHEDULER_NAMES
from tests.bot.cli_env import model_cache, offline_cpu, one_torch_thread

__all__ = ["model_cache", "offline_cpu", "one_torch_thread"]  # the CLI tests' environment

FAST = ["--size", "64x64", "--steps", "2"]


def test_imagine_writes_pngs_with_their_settings_and_prints_the_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["imagine", "a lighthouse", "--negative", "fog", "--seed", "41", "--count",
                 "2", "--scheduler", "euler a", "--out", str(tmp_path), *FAST])  # fmt: skip
    assert code == 0
    printed = [Path(line) for line in capsys.readouterr().out.split()]
    assert sorted(printed) == sorted(tmp_path.iterdir())
    first, second, grid = printed
    settings = parse_parameters(read_parameters(first.read_bytes()) or "").settings
    assert settings["Seed"] == "41" and settings["Sampler"] == "Euler a"
    assert "Seed: 42" in (read_parameters(second.read_bytes()) or "")
    assert Image.open(grid).size == (128, 64)
    assert not np.array_equal(np.asarray(Image.open(first)), np.asarray(Image.open(second)))


def test_imagine_json_reports_paths_seeds_and_timings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["imagine", "a fox", "--json", "--out", str(tmp_path), "--aspect", "16:9",
                 "--steps", "2"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert len(report["seeds"]) == 1 and 0 <= report["seeds"][0] < 2**32
    assert (report["width"], report["height"]) == (704, 384)  # 16:9 at SD 1.x's native area
    assert Image.open(report["paths"][0]).size == (704, 384)
    assert report["timings"]["total"] > 0 and report["grid"] is None


def test_a1111_weights_and_wildcards_are_read_as_in_discord(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """compel alone would read ``(fog:1.4)`` as the literal words "fog:1.4"; the CLI translates."""
    assert main(["imagine", "a {red|blue} lighthouse, (fog:1.4)", "--seed", "5", "--count", "2",
                 "--json", "--out", str(tmp_path), *FAST]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    pngs = [Path(path).read_bytes() for path in report["paths"]]
    compel = [json.loads(read_parameters(png, COMPEL_KEY) or "{}")["prompt"] for png in pngs]
    assert all("(fog)1.4" in prompt and ":1.4" not in prompt for prompt in compel)
    # A1111 and ComfyUI read ``parameters`` as A1111 syntax: what the user wrote, per image.
    written = [parse_parameters(read_parameters(png) or "").prompt for png in pngs]
    assert sorted(written) == ["a blue lighthouse, (fog:1.4)", "a red lighthouse, (fog:1.4)"]
    assert report["seeds"] == [5, 6]


def test_token_counts_and_warnings_are_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long = "a lighthouse on a cliff above a stormy sea at dusk, " * 10
    assert main(["imagine", long, "--json", "--out", str(tmp_path), *FAST]) == 0
    captured = capsys.readouterr()
    notes = captured.err.splitlines()
    assert any(line.startswith("muralist imagine: note: ") and " tokens in 1 chunk(s)" in line
               for line in notes)  # fmt: skip
    assert any("would drop" in line for line in notes)
    assert any("tokens in" in w for w in json.loads(captured.out)["warnings"])


def test_the_same_seed_paints_the_same_picture(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        assert main(["imagine", "a fox", "--seed", "7", "--out", str(tmp_path / folder),
                     *FAST]) == 0  # fmt: skip
    [a], [b] = (list((tmp_path / folder).iterdir()) for folder in ("a", "b"))
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


@pytest.mark.parametrize(
    ("arguments", "field", "hint"),
    [
        (["   "], "prompt", "empty"),
        (["a", "--size", "513x512"], "width", "64..2048"),
        (["a", "--size", "2048x2048"], "width", "64..1024"),
        (["a", "--steps", "0"], "steps", "1..150"),
        (["a", "--steps", "10000"], "steps", "1..150"),
        (["a", "--steps", "ten"], "steps", "not a number"),
        (["a", "--cfg", "nan"], "cfg", "must be a finite number in 0..30"),
        (["a", "--cfg", "inf"], "cfg", "must be a finite number in 0..30"),
        (["a", "--count", "0"], "count", "1..4"),
        (["a", "--cfg", "-1"], "cfg", "0..30"),
        (["a", "--cfg", "1e9"], "cfg", "0..30"),
        (["a", "--seed", "-1"], "seed", "0..4294967295"),
        (["a", "--seed", "4294967296"], "seed", "0..4294967295"),
        (["a", "--scheduler", "Euler z"], "scheduler", "DPM++ 2M Karras"),
        (["a", "--model", "no-such-model"], "model", "tiny"),
        (["a", "--count", "5"], "count", "1..4"),
        (["a", "--aspect", "5:4"], "aspect", "16:9"),
        (["a", "--size", "64x64", "--aspect", "1:1"], "size", "either"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_field(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    field: str,
    hint: str,
) -> None:
    out = tmp_path / "out"
    extra = [] if {"--size", "--aspect"} & set(arguments) else ["--size", "64x64"]
    assert main(["imagine", *arguments, "--out", str(out), *extra]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"muralist imagine: error: {field}:")
    assert hint in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""
    assert not out.exists() or not list(out.iterdir())


def test_an_interrupted_run_leaves_nothing_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generation.engine import DiffusersEngine

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(DiffusersEngine, "generate", interrupted)
    assert main(["imagine", "a", "--out", str(tmp_path), *FAST]) == 130
    assert list(tmp_path.iterdir()) == []


def test_schedulers_lists_every_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedulers", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == list(SCHEDULER_NAMES)
    assert main(["schedulers"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert "DPM++ 2M Karras  (default)" in listed and "Euler a" in listed
