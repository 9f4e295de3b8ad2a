from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from tests.safety.conftest import noise_png


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_allows_an_ordinary_prompt(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "check", "a lighthouse in a storm") == (0, "allowed\n", "")


def test_check_blocks_with_the_reason_and_matches(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "a n.u.d.e woman")
    assert code == 1
    assert out.startswith("blocked: ") and "sexual" in out and "'nude'" in out


def test_check_json_is_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "p0rn, a castle", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["allowed"] is False
    assert data["categories"] == ["sexual"]
    assert data["matches"][0]["found"] == "porn"


def test_the_negative_prompt_never_blocks(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "check", "a castle", "--negative", "nsfw, nude")[0] == 0


def test_an_nsfw_channel_allows_nudity_but_never_the_absolute_rule(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(capsys, "check", "a nude figure study", "--nsfw-channel")[0] == 0
    code, out, _ = run(capsys, "check", "nude teen", "--nsfw-channel", "--json")
    assert code == 1 and json.loads(out)["absolute"] is True


def test_guild_terms_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "guild.toml"
    path.write_text('exempt = ["gore"]\n[guild]\nterms = ["finale"]\n', encoding="utf-8")
    assert run(capsys, "check", "the f i n a l e", "--guild-terms", str(path))[0] == 1
    assert run(capsys, "check", "gore poster", "--guild-terms", str(path))[0] == 0


def test_a_bad_guild_terms_file_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "guild.toml"
    path.write_bytes(b'[guild]\nterms = ["caf\xe9"]\n')
    code, out, err = run(capsys, "check", "x", "--guild-terms", str(path))
    assert code == 2 and out == ""
    assert str(path) in err and "UTF-8" in err and len(err.splitlines()) == 1
    path.write_text("[guild]\nregex = ['(a+)+$']\n", encoding="utf-8")
    code, _, err = run(capsys, "check", "x", "--guild-terms", str(path))
    assert code == 2 and "nests a repeat" in err


def test_check_image_on_a_noise_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "noise.png"
    path.write_bytes(noise_png(96))
    code, out, _ = run(capsys, "check-image", str(path))
    assert code == 0 and out.startswith("safe (96×96")
    code, out, _ = run(capsys, "check-image", str(path), "--json")
    assert code == 0 and json.loads(out)["status"] == "safe"


def test_check_image_on_a_corrupt_file_withholds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG garbage")
    code, out, _ = run(capsys, "check-image", str(path))
    assert code == 1 and out.startswith("unchecked") and "not a readable image" in out


def test_check_image_on_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "check-image", str(tmp_path / "nope.png"))
    assert code == 2 and "nope.png" in err
