"""Real processes for the fault suite: the bot and GPU workers as ``muralist`` children, each
with its log in a file, stopped gracefully or killed with SIGKILL (``kill -9``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from loopback import LoopbackDiscord

ROOT = Path(__file__).resolve().parents[2]


def base_env(tiny_cache: Path, **settings: Any) -> dict[str, str]:
    """The environment of a ``muralist`` child: offline, one thread, the tiny model's cache,
    and ``MURALIST_*`` settings given as ``queue__db_path=...``."""
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "MURALIST_ENGINE__CACHE_DIR": str(tiny_cache),
        "MURALIST_ENGINE__DEVICE": "cpu",
    }
    for key, value in settings.items():
        env[f"MURALIST_{key.upper()}"] = str(value)
    return env


class Child:
    """One ``muralist`` process (or another ``module``'s); its output goes to ``log``
    (appended across restarts)."""

    def __init__(
        self, argv: list[str], env: dict[str, str], log: Path, *, module: str = "bot.cli"
    ) -> None:
        self.argv = argv
        self.module = module
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        with open(self.log, "ab") as out:
            out.write(f"\n--- start {self.starts + 1}\n".encode())
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.argv],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1

    def kill(self) -> None:
        """``kill -9``: no shutdown code runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> int | None:
        """SIGINT, as an operator's Ctrl-C (SIGKILL after 30 s)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class BotProcess(Child):
    """``muralist bot`` against the test's loopback Discord."""

    def __init__(self, loopback: LoopbackDiscord, env: dict[str, str], log: Path) -> None:
        env = env | {
            "MURALIST_DISCORD__TOKEN": loopback.token,
            "MURALIST_DISCORD__API_BASE": loopback.api_base,
            "MURALIST_DISCORD__GATEWAY_URL": loopback.gateway_url,
            "MURALIST_DISCORD__SYNC_GUILD_ID": str(loopback.guild.id),
        }
        super().__init__(["bot"], env, log)
        self.loopback = loopback

    async def ready(self, timeout: float = 120.0) -> None:
        """Start and wait until it has identified and synced its commands."""
        identified = self.loopback.identifies
        synced = sum(1 for s in self.loopback.transcript if s.kind == "commands")
        self.start()
        await self.loopback.wait_for(
            lambda: (
                (
                    self.loopback.identifies > identified
                    and sum(1 for s in self.loopback.transcript if s.kind == "commands") > synced
                )
                or (self.process is not None and self.process.poll() is not None)
            ),
            timeout,
        )
        assert self.process is not None and self.process.poll() is None, self.output()[-3000:]


def worker(tiny_cache: Path, redis_url: str, name: str, log: Path, **settings: Any) -> Child:
    """``muralist worker`` on the tiny model (a preview every step)."""
    env = base_env(tiny_cache, **settings)
    argv = ["worker", "--redis-url", redis_url, "--name", name, "--preview-every", "1"]
    return Child(argv, env, log)
