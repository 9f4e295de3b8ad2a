"""``muralist backup``, ``muralist restore`` and ``muralist doctor``: keeping a deployment well.

Backup and restore copy the one SQLite state file (jobs, guild settings, the moderation record,
history, preferences, quotas) with SQLite's online backup API (``sqlite3.Connection.backup``):
a consistent copy page by page while the bot keeps running and writing, WAL included, which a
plain file copy of a live database is not. The images folder is plain files: copy it with rsync
or tar (README: Upgrades and backups).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import Any

from bot.config import Settings, SettingsError

ROLES = ("all", "bot", "worker")
# Tables a Muralist state file always has (the job store's); anything else is not one.
_STATE_TABLES = {"jobs"}


def register(subparsers: Any) -> None:
    backup = subparsers.add_parser(
        "backup",
        help="copy the state file with SQLite's online backup (safe while the bot runs)",
        description="Writes a consistent copy of queue.db_path to OUT while the bot keeps "
        "running. The images folder (queue.images_dir) is not included: copy it with rsync.",
    )
    backup.add_argument("out", type=Path, help="the backup file to write (must not exist)")
    backup.set_defaults(handler=backup_command)

    restore = subparsers.add_parser(
        "restore",
        help="put a backup in place of the state file (stop the bot first)",
        description="Checks the backup (integrity, a Muralist state file), then copies it over "
        "queue.db_path with SQLite's backup API. Stop the bot and its workers first.",
    )
    restore.add_argument("backup", type=Path, help="a file written by `muralist backup`")
    restore.add_argument(
        "--force", action="store_true", help="replace an existing state file (it is overwritten)"
    )
    restore.set_defaults(handler=restore_command)

    doctor = subparsers.add_parser(
        "doctor",
        help="check this deployment and print what to fix, one line each",
        description="Token, intents and permissions in each server (Discord's REST API), "
        "Redis and its persistence, the GPU and memory, disk space, the database and the models."
        " Exits 1 when something must be fixed.",
    )
    doctor.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="bot: this host runs `muralist bot` beside GPU workers (no model or GPU needed here);"
        " worker: a GPU worker (no Discord, no state file); all: one process does both (default)",
    )
    doctor.set_defaults(handler=doctor_command)

    health = subparsers.add_parser(
        "health",
        help="exit 0 while this host's bot or worker is alive (for container health checks)",
        description="bot: its metrics endpoint (queue.metrics_port) answers on 127.0.0.1; "
        "worker: its heartbeat in Redis is fresh (younger than queue.worker_timeout_seconds).",
    )
    health.add_argument("role", choices=("bot", "worker"))
    health.add_argument("--name", help="the worker's --name (worker)")
    health.set_defaults(handler=health_command)


def copy_database(source: Path, target: Path) -> int:
    """Copy ``source`` into ``target`` with the online backup API; returns the pages copied."""
    with sqlite3.connect(source, timeout=30) as src, sqlite3.connect(target) as dst:
        src.backup(dst, pages=1024)
        pages = int(dst.execute("PRAGMA page_count").fetchone()[0])
    return pages


def check_state_file(path: Path) -> None:
    """Refuse a file that is not an intact Muralist state file (``SettingsError``)."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            verdict = db.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        raise SettingsError(f"backup: {path} is not a SQLite database ({exc})") from exc
    if verdict != "ok":
        raise SettingsError(f"backup: {path} is damaged ({verdict})")
    if not tables >= _STATE_TABLES:
        raise SettingsError(f"backup: {path} is not a Muralist state file (no jobs table)")


def backup_command(args: argparse.Namespace, settings: Settings) -> int:
    source = settings.queue.db_path
    if not source.is_file():
        raise SettingsError(f"queue.db_path: {source} does not exist; nothing to back up")
    out: Path = args.out
    if out.exists():
        raise SettingsError(f"out: {out} exists; give a new file name (backups never overwrite)")
    out.parent.mkdir(parents=True, exist_ok=True)
    pages = copy_database(source, out)
    check_state_file(out)
    print(f"backed up {source} to {out} ({pages} pages, {out.stat().st_size} bytes)")
    print(f"images are not in it: copy {settings.queue.images_dir} too (rsync -a)")
    return 0


def restore_command(args: argparse.Namespace, settings: Settings) -> int:
    backup: Path = args.backup
    if not backup.is_file():
        raise SettingsError(f"backup: {backup} does not exist")
    check_state_file(backup)
    target = settings.queue.db_path
    if target.exists() and not args.force:
        raise SettingsError(
            f"queue.db_path: {target} exists; stop the bot, then run again with --force "
            "to replace it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    pages = copy_database(backup, target)
    print(f"restored {backup} to {target} ({pages} pages); start the bot again")
    return 0


def doctor_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.doctor import diagnose

    checks = asyncio.run(diagnose(settings, args.role))
    for check in checks:
        print(check.line())
    failed = [c for c in checks if c.status == "fail"]
    warned = [c for c in checks if c.status == "warn"]
    print(f"{len(checks)} checks: {len(failed)} to fix, {len(warned)} to look at")
    sys.stdout.flush()
    return 1 if failed else 0


def health_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.doctor import bot_alive, worker_alive

    if args.role == "bot":
        alive, detail = bot_alive(settings)
    else:
        if not args.name:
            raise SettingsError("name: give the worker's --name")
        alive, detail = asyncio.run(worker_alive(settings, args.name))
    print(detail)
    return 0 if alive else 1
