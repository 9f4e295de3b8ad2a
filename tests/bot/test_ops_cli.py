"""``muralist backup`` / ``restore`` on a live state file, and ``muralist doctor`` against the
loopback Discord and real redis-servers (without and with an append-only file)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Settings
from bot.wiring import open_studio
from generation.engine_api import ImageEngine
from generation.queue import WorkerInfo
from loopback import LoopbackDiscord
from loopback.fixtures import ATTACH_FILES, EMBED_LINKS, MANAGE_MESSAGES
from studio import ImagineOptions, Requester
from tests.generation.queue.redis_server import RedisServer, free_port

pytestmark = pytest.mark.skipif(not RedisServer.available(), reason="needs redis-server")
ALICE = Requester(user_id=1, guild_id=10, channel_id=100)
READ_MESSAGE_HISTORY = 1 << 16


def use(monkeypatch: pytest.MonkeyPatch, settings: Settings, **extra: str) -> None:
    """The CLI reads its settings from the environment, as in production."""
    values = {
        "MURALIST_QUEUE__DB_PATH": str(settings.queue.db_path),
        "MURALIST_QUEUE__IMAGES_DIR": str(settings.queue.images_dir),
        "MURALIST_ENGINE__CACHE_DIR": str(settings.engine.cache_dir),
        "MURALIST_ENGINE__DEVICE": "cpu",
        **extra,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


async def cli(*argv: str) -> int:
    """The CLI in a thread: it runs its own event loop while the test's serves the loopback."""
    return await asyncio.to_thread(main, list(argv))


async def test_backup_of_a_running_bots_state_and_restore(
    settings: Settings,
    engine: ImageEngine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use(monkeypatch, settings)
    backup = tmp_path / "backups" / "muralist-1.db"
    async with open_studio(settings, engine) as studio:
        studio.guilds.set_many(10, 99, {"default_steps": 3, "quota_daily": 40})
        await studio.preferences.set(ALICE, {"count": 1})
        submitted = await studio.submit(ImagineOptions(prompt="a lighthouse"), ALICE)
        async for _ in studio.events(submitted.job_id):
            pass
        await studio.delivered(submitted.job_id, channel_id=100, message_id=1)
        # The bot is running, its last writes still in the write-ahead log.
        assert await cli("backup", str(backup)) == 0
        assert f"backed up {settings.queue.db_path} to {backup}" in capsys.readouterr().out
        assert await cli("backup", str(backup)) == 2  # a backup never overwrites
        assert "exists" in capsys.readouterr().err

    # A new machine: the state file comes back from the backup (the images are copied apart).
    moved = settings.model_copy(deep=True)
    moved.queue.db_path = tmp_path / "new" / "state.db"
    use(monkeypatch, moved)
    assert await cli("restore", str(backup)) == 0
    async with open_studio(moved, engine) as studio:
        guild = studio.guilds.get(10)
        assert (guild.default_steps, guild.quota_daily) == (3, 40)
        assert (await studio.preferences.view(ALICE)).count == 1
        assert studio.queue.get(submitted.job_id).request.prompt.startswith("a lighthouse")
        assert (await studio.gallery.page(ALICE)).total == 1
    assert await cli("restore", str(backup)) == 2  # the bot's file is there: --force only
    assert "--force" in capsys.readouterr().err
    assert await cli("restore", "--force", str(backup)) == 0

    stranger = tmp_path / "other.db"
    with sqlite3.connect(stranger) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    assert await cli("restore", "--force", str(stranger)) == 2
    assert "not a Muralist state file" in capsys.readouterr().err
    (tmp_path / "text.db").write_text("not a database at all, but long enough to read" * 50)
    assert await cli("restore", "--force", str(tmp_path / "text.db")) == 2
    assert "not a SQLite database" in capsys.readouterr().err


async def test_doctor_against_the_loopback_discord_and_real_redis(
    loopback: LoopbackDiscord,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    loopback.bot_permissions |= READ_MESSAGE_HISTORY  # as the README's invite gives
    forgetful = RedisServer().start()
    try:
        use(
            monkeypatch,
            settings,
            MURALIST_DISCORD__TOKEN=loopback.token,
            MURALIST_DISCORD__API_BASE=loopback.api_base,
            MURALIST_QUEUE__REDIS_URL=forgetful.url,
        )
        assert await cli("doctor") == 1
    finally:
        forgetful.stop()
    out = capsys.readouterr().out
    guild = f"server 'Loopback Guild' ({loopback.guild.id})"
    assert "✓ discord token: valid: logged in as Muralist" in out
    assert "✓ intents: the bot asks only for the guilds intent" in out
    assert (
        f"✓ {guild}: has view_channel, send_messages, embed_links, attach_files, "
        "read_message_history, manage_messages" in out
    )
    assert "✗ redis persistence: appendonly no — fix: set `appendonly yes` in redis.conf" in out
    assert "! gpu workers: 0 alive (heartbeat in Redis)" in out
    assert "✓ gpu: none here; this host does not paint (Redis workers do)" in out
    assert "✓ database: " in out and "✓ model tiny: the default" in out
    assert " checks: 1 to fix, " in out.splitlines()[-1]

    persistent = RedisServer(appendonly_dir=tmp_path).start()
    try:
        monkeypatch.setenv("MURALIST_QUEUE__REDIS_URL", persistent.url)
        assert await cli("doctor") == 0  # warnings (workers, models) are not failures
        assert "✓ redis persistence: appendonly yes" in capsys.readouterr().out

        loopback.bot_permissions &= ~MANAGE_MESSAGES
        assert await cli("doctor", "--role", "bot") == 0
        out = capsys.readouterr().out
        assert f"! {guild}: has view_channel" in out and "missing manage_messages" in out
        assert "model" not in out and "gpu:" not in out  # a bot beside workers needs neither
        loopback.bot_permissions &= ~(ATTACH_FILES | EMBED_LINKS)
        assert await cli("doctor") == 1
        out = capsys.readouterr().out
        assert f"✗ {guild}: missing embed_links, attach_files — fix: " in out
        assert f"client_id={loopback.application_id}&scope=bot+applications.commands" in out
    finally:
        persistent.stop()

    monkeypatch.setenv("MURALIST_DISCORD__TOKEN", "not-the-token")
    monkeypatch.delenv("MURALIST_QUEUE__REDIS_URL")
    assert await cli("doctor") == 1
    assert "✗ discord token: Discord rejected it (401)" in capsys.readouterr().out


async def test_doctor_says_when_it_cannot_reach_discord_or_redis(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/api/v10"
    use(
        monkeypatch,
        settings,
        MURALIST_DISCORD__TOKEN="some-token",
        MURALIST_DISCORD__API_BASE=nowhere,
        MURALIST_QUEUE__REDIS_URL=f"redis://:secret@127.0.0.1:{free_port()}/0",
    )
    assert await cli("doctor") == 1
    out = capsys.readouterr().out
    assert f"! discord: cannot reach {nowhere}" in out and "could not be checked" in out
    assert "✗ redis: cannot reach redis://***@127.0.0.1:" in out and "secret" not in out

    monkeypatch.delenv("MURALIST_DISCORD__TOKEN")
    monkeypatch.delenv("MURALIST_QUEUE__REDIS_URL")
    monkeypatch.setenv("MURALIST_ENGINE__DEFAULT_MODEL", "sd-ultra")
    assert await cli("doctor") == 1
    out = capsys.readouterr().out
    assert "✗ discord token: not set — fix: export MURALIST_DISCORD__TOKEN" in out
    assert "✗ default model: 'sd-ultra' is not in the catalog" in out


async def test_health_of_a_bot_and_of_a_worker(
    settings: Settings,
    engine: ImageEngine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    use(monkeypatch, settings, MURALIST_QUEUE__METRICS_PORT=str(port))
    assert await cli("health", "bot") == 1  # nothing answers yet
    with_metrics = settings.model_copy(deep=True)
    with_metrics.queue.metrics_port = port
    async with open_studio(with_metrics, engine):
        assert await cli("health", "bot") == 0
    assert f"http://127.0.0.1:{port}/metrics answers" in capsys.readouterr().out

    server = RedisServer().start()
    try:
        monkeypatch.setenv("MURALIST_QUEUE__REDIS_URL", server.url)
        assert await cli("health", "worker", "--name", "gpu-0") == 1
        assert "no heartbeat of worker 'gpu-0'" in capsys.readouterr().out
        import redis

        client = redis.Redis.from_url(server.url)
        for age, healthy in ((1.0, 0), (600.0, 1)):
            beat = WorkerInfo(
                name="gpu-0",
                models=["tiny"],
                device="cuda",
                capacity=1,
                busy=0,
                time=time.time() - age,
            )
            client.hset("muralist:workers", "gpu-0", beat.model_dump_json())
            assert await cli("health", "worker", "--name", "gpu-0") == healthy
        client.close()
    finally:
        server.stop()


async def test_doctor_on_a_worker_checks_the_gpu_and_the_models(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No CUDA here: a worker set to ``cuda`` is told so; the CUDA branch runs on a stand-in
    of torch.cuda (its figures only: no GPU was available to these tests)."""
    import torch

    use(monkeypatch, settings, MURALIST_ENGINE__DEVICE="cuda")
    assert await cli("doctor", "--role", "worker") == 1
    out = capsys.readouterr().out
    assert "✗ gpu: engine.device is 'cuda' but torch sees no CUDA GPU" in out
    assert "discord" not in out and "database" not in out and "✓ model tiny" in out

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: "Stand-in GPU")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index: (20 * 1024**3, 24 * 1024**3))
    assert await cli("doctor", "--role", "worker") == 0
    assert "✓ gpu: Stand-in GPU, 20.0 of 24.0 GiB free" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "said"),
    [(b"", "the file is empty"), (b"not a database at all" * 50, "not a SQLite database")],
)
async def test_doctor_names_a_state_file_the_bot_would_refuse_and_leaves_it_as_it_was(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    said: str,
) -> None:
    settings.queue.db_path.write_bytes(content)
    use(monkeypatch, settings)
    assert await cli("doctor", "--role", "bot") == 1
    out = capsys.readouterr().out
    assert "✗ database:" in out and said in out and "muralist restore" in out
    assert settings.queue.db_path.read_bytes() == content  # the check wrote nothing
