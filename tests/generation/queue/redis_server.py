"""A throwaway ``redis-server`` on 127.0.0.1 for tests, stopped (or killed) by its pid: no
persistence, or (``appendonly_dir``) an append-only file in that folder, as a production Redis
should have (synced at every write, so a ``kill -9`` loses nothing that was acknowledged)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    def __init__(self, port: int | None = None, *, appendonly_dir: Path | None = None) -> None:
        self.port = port or free_port()
        self.appendonly_dir = appendonly_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def folder(self) -> str:
        return str(self.appendonly_dir)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [
                "redis-server",
                *("--bind", "127.0.0.1", "--port", str(self.port)),
                *("--save", "", "--loglevel", "warning"),
                *(
                    ("--appendonly", "yes", "--appendfsync", "always", "--dir", self.folder)
                    if self.appendonly_dir is not None
                    else ("--appendonly", "no")
                ),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def kill(self) -> None:
        """``kill -9``: no shutdown, nothing saved that was not already on disk."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None
