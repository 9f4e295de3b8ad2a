from __future__ import annotations

import pytest

from bot.cli import main


def test_worker_without_redis_is_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MURALIST_QUEUE__REDIS_URL", raising=False)
    monkeypatch.delenv("MURALIST_CONFIG", raising=False)
    assert main(["worker"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "redis_url" in error and "--redis-url" in error


def test_worker_refuses_a_bad_capacity(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "--redis-url", "redis://127.0.0.1:6399/0", "--capacity", "0"]) == 2
    assert "capacity" in capsys.readouterr().err
