from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import SettingsError, load_settings


def test_defaults_load_without_any_file_or_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MURALIST_CONFIG", raising=False)
    settings = load_settings()
    assert settings.engine.default_model == "tiny"
    assert settings.queue.per_user_cap == 3


def test_environment_overrides_the_toml_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "muralist.toml"
    config.write_text('[engine]\ndevice = "cpu"\ndefault_steps = 12\n[queue]\nmax_batch = 2\n')
    monkeypatch.setenv("MURALIST_ENGINE__DEFAULT_STEPS", "30")
    settings = load_settings(config)
    assert settings.engine.device == "cpu"
    assert settings.engine.default_steps == 30
    assert settings.queue.max_batch == 2


def test_invalid_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MURALIST_QUEUE__PER_USER_CAP", "0")
    with pytest.raises(SettingsError, match=r"queue\.per_user_cap"):
        load_settings()


def test_unknown_setting_in_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "muralist.toml"
    config.write_text("[engine]\ndevcie = 'cpu'\n")
    with pytest.raises(SettingsError, match=r"engine\.devcie"):
        load_settings(config)


def test_missing_and_broken_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[engine\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(broken)
