from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(autouse=True)
def settings_env(model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MURALIST_CONFIG", "MURALIST_ENGINE__MODELS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MURALIST_ENGINE__CACHE_DIR", str(model_cache))
    monkeypatch.setenv("MURALIST_ENGINE__DEVICE", "cpu")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def models_json(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["models", "--json"]) == 0
    rows: list[dict[str, object]] = json.loads(capsys.readouterr().out)
    return rows


def test_models_lists_each_model_with_where_it_loads_from(
    model_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = {row["name"]: row for row in models_json(capsys)}
    assert rows["tiny"]["path"] == str(model_cache / "tiny-v1")
    assert rows["tiny"]["default"] is True
    assert rows["sdxl"]["path"] == "stabilityai/stable-diffusion-xl-base-1.0"
    assert rows["sdxl"]["native_size"] == [1024, 1024]
    assert {"tiny", "tiny-xl", "sd15", "sd21", "sdxl", "openjourney"} <= rows.keys()
    assert rows["sd15"]["inpaint"] == "sd15-inpainting" and rows["sd15-inpainting"]["inpainting"]
    assert rows["openjourney"]["inpaint"] == "openjourney"  # its own weights inpaint
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    assert "tiny-xl" in text and "stabilityai/stable-diffusion-2-1" in text


def test_merge_writes_a_folder_that_the_printed_catalog_entry_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "blend"
    assert main(["merge", "tiny", "tiny", "--alpha", "0.5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert (out / "model_index.json").is_file()
    entry = printed[printed.index("[models.") :]
    models_file = tmp_path / "models.toml"
    models_file.write_text(entry)
    monkeypatch.setenv("MURALIST_ENGINE__MODELS_FILE", str(models_file))
    rows = {row["name"]: row for row in models_json(capsys)}
    assert rows["blend"]["path"] == str(out.resolve())
    assert rows["blend"]["family"] == "sd1"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["merge", "tiny", "sd-99", "--out", "OUT"], "model: unknown model 'sd-99'"),
        (["merge", "tiny", "tiny", "--alpha", "1.5", "--out", "OUT"], "alpha: 1.5 is outside 0..1"),
        (["merge", "tiny", "tiny-xl", "--out", "OUT"], "only models of the same family"),
    ],
)
def test_merge_user_errors_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    out = tmp_path / "out"
    assert main([str(out) if arg == "OUT" else arg for arg in argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Loading" not in err  # no loading bars either
    (line,) = [line for line in err.splitlines() if line.startswith("muralist")]
    assert line.startswith("muralist merge: error: ") and message in line
    assert not out.exists()


def test_malformed_models_file_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    models_file = tmp_path / "models.toml"
    models_file.write_text('[models.mine]\nfolder = "x"\nfamily = "sd4"\n')
    monkeypatch.setenv("MURALIST_ENGINE__MODELS_FILE", str(models_file))
    assert main(["models"]) == 2
    err = capsys.readouterr().err
    assert "engine.models_file" in err and "[models.mine] family" in err


def test_guides_names_each_familys_ip_adapter_and_controlnets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Built-in models use the built-in guides, others their family's real checkpoints; a user
    catalog's entry wins over the shipped one, and a family without any says so."""
    user = tmp_path / "models.toml"
    user.write_text(
        '[controlnets.my-canny]\nfolder = "nets/canny"\nfamily = "sd1"\nmode = "canny"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("MURALIST_ENGINE__MODELS_FILE", str(user))
    assert main(["guides", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    uses = listing["models"]
    assert uses["tiny"] == {
        "ip_adapter": "tiny-ip-adapter",
        "controlnets": {"canny": "tiny-canny", "lineart": "tiny-lineart"},
    }
    assert uses["sd15"]["controlnets"] == {"canny": "my-canny", "lineart": "sd15-lineart"}
    assert uses["sdxl"]["ip_adapter"] == "ip-adapter-sdxl" and uses["sd21"]["ip_adapter"] is None
    assert uses["flux-dev"] == {"ip_adapter": None, "controlnets": {"canny": None, "lineart": None}}
    folders = {g["name"]: g["folder"] for g in listing["guides"]}
    assert folders["my-canny"] == str(tmp_path / "nets" / "canny")
    assert main(["guides"]) == 0
    assert "h94/IP-Adapter" in capsys.readouterr().out
