"""``muralist bot`` as a separate process against the loopback Discord, and ``muralist demo``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.cli import main
from loopback import LoopbackDiscord


async def test_bot_process_serves_the_loopback_discord(
    loopback: LoopbackDiscord, tmp_path: Path, tiny_cache: Path
) -> None:
    env = os.environ | {
        "PYTHONPATH": os.getcwd(),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "MURALIST_DISCORD__TOKEN": loopback.token,
        "MURALIST_DISCORD__API_BASE": loopback.api_base,
        "MURALIST_DISCORD__GATEWAY_URL": loopback.gateway_url,
        "MURALIST_DISCORD__SYNC_GUILD_ID": str(loopback.guild.id),
        "MURALIST_DISCORD__IMAGE_SIDE": "64",
        "MURALIST_ENGINE__DEFAULT_STEPS": "2",
        "MURALIST_ENGINE__CACHE_DIR": str(tiny_cache),
        "MURALIST_QUEUE__DB_PATH": str(tmp_path / "state.db"),
        "MURALIST_QUEUE__IMAGES_DIR": str(tmp_path / "images"),
        "MURALIST_LOG_LEVEL": "DEBUG",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from bot.cli import main; sys.exit(main(['bot']))",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await loopback.wait_until_ready(timeout=120)
        await loopback.wait_for(lambda: bool(loopback.guild_commands.get(loopback.guild.id)))
        record = await loopback.slash(
            "imagine", {"prompt": "a windmill", "count": 1}, user=loopback.add_user("gina")
        )
        result = await loopback.wait_original(record, lambda m: bool(m.embeds), timeout=120)
        assert result.attachments and result.components
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode in (0, 130)
    assert loopback.token not in output.decode(errors="replace")


def test_bot_without_token_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MURALIST_DISCORD__TOKEN", raising=False)
    assert main(["bot"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "MURALIST_DISCORD__TOKEN" in error


def test_demo_writes_images_and_transcript(
    tmp_path: Path,
    tiny_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MURALIST_ENGINE__CACHE_DIR", str(tiny_cache))
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--size", "64", "--steps", "2", "--button", "V1"])
    assert code == 0
    assert len(list((out / "imagine").glob("*.png"))) == 5  # the grid and four images
    assert len(list((out / "v1").glob("*.png"))) == 1
    transcript = json.loads((out / "transcript.json").read_text())
    kinds = [entry["kind"] for entry in transcript]
    assert kinds.index("commands") < kinds.index("callback") and "edit_original" in kinds
    # The claim is made only when the validator ran on every request the bot made.
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "no breach of Discord's contract recorded"
    checked, _, total = lines[-2].split()[:3]
    assert checked == total == str(len(transcript))
