"""``muralist doctor``: check a deployment and say what to fix, one line per check.

Each check is independent and answers ``ok``, ``warn`` (works, but worth a look) or ``fail``
(something a member would notice). Discord is asked through its REST API with the bot's token
(the same calls discord.py makes at login, plus the bot's guilds with its permissions in each);
when Discord cannot be reached the doctor says so rather than guessing. Nothing is changed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import discord

from bot.config import Settings
from bot.endpoints import apply_discord_config
from generation.catalog import Catalog, ModelSpec, hub_snapshot
from generation.queue import WorkerInfo
from generation.queue.store import (
    StorageUnwritable,
    StoreCorrupt,
    check_images_folder,
    check_state_file,
)

Status = Literal["ok", "warn", "fail"]
MARKS: dict[Status, str] = {"ok": "✓", "warn": "!", "fail": "✗"}
GiB = 1024**3

# What the bot needs in a guild: see and post in channels, with embeds and image files (replies
# to interactions need no permission). The README's invite also asks for Read Message History
# and Manage Messages (taking down reported results): missing those is worth a look, no more.
REQUIRED_PERMISSIONS: dict[str, int] = {
    "view_channel": 1 << 10,
    "send_messages": 1 << 11,
    "embed_links": 1 << 14,
    "attach_files": 1 << 15,
}
RECOMMENDED_PERMISSIONS: dict[str, int] = {
    "read_message_history": 1 << 16,
    "manage_messages": 1 << 13,
}
ADMINISTRATOR = 1 << 3
INVITE_PERMISSIONS = sum(REQUIRED_PERMISSIONS.values()) + sum(RECOMMENDED_PERMISSIONS.values())
DISCORD_TIMEOUT = 20.0


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f" — fix: {self.fix}" if self.fix and self.status != "ok" else ""
        return f"{MARKS[self.status]} {self.name}: {self.detail}{fix}"


def invite_url(application_id: int | str) -> str:
    return (
        f"https://discord.com/oauth2/authorize?client_id={application_id}"
        f"&scope=bot+applications.commands&permissions={INVITE_PERMISSIONS}"
    )


# ----------------------------------------------------------------------------- Discord
async def discord_checks(settings: Settings) -> list[Check]:
    """Token, intents and the bot's permissions in each guild, from Discord's REST API."""
    token = settings.discord.token
    if token is None:
        return [
            Check(
                "discord token",
                "fail",
                "not set",
                "export MURALIST_DISCORD__TOKEN=<the bot's token> (Developer Portal → Bot)",
            )
        ]
    apply_discord_config(settings.discord)
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        return await asyncio.wait_for(_ask_discord(http, token.get_secret_value()), DISCORD_TIMEOUT)
    except discord.LoginFailure:
        return [
            Check(
                "discord token",
                "fail",
                "Discord rejected it (401)",
                "copy the token again from the Developer Portal (Bot → Reset Token)",
            )
        ]
    except (TimeoutError, OSError, discord.HTTPException) as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        return [
            Check("discord token", "ok", "set (not verified)"),
            Check(
                "discord",
                "warn",
                f"cannot reach {settings.discord.api_base} ({reason}); the token, intents and "
                "permissions could not be checked",
                "run the doctor where the bot runs, with its network",
            ),
        ]
    finally:
        await http.close()


async def _ask_discord(http: discord.http.HTTPClient, token: str) -> list[Check]:
    me: Any = await http.static_login(token)
    app: Any = await http.application_info()
    guilds: Any = await http.get_guilds(200)
    checks = [
        Check("discord token", "ok", f"valid: logged in as {me['username']} ({me['id']})"),
        Check(
            "intents",
            "ok",
            "the bot asks only for the guilds intent, which needs no approval "
            "(no privileged intent: members, presences and message content stay off)",
        ),
    ]
    url = invite_url(app["id"])
    if not guilds:
        checks.append(Check("servers", "warn", "the bot is in no server yet", f"invite it: {url}"))
    for guild in guilds:
        checks.append(_guild_check(guild, url))
    return checks


def _guild_check(guild: dict[str, Any], url: str) -> Check:
    name = f"server {guild['name']!r} ({guild['id']})"
    granted = int(guild.get("permissions") or 0)
    if granted & ADMINISTRATOR:
        return Check(name, "ok", "administrator")
    missing = [perm for perm, bit in REQUIRED_PERMISSIONS.items() if not granted & bit]
    fix = f"give the bot's role these permissions, or invite it again: {url}"
    if missing:
        return Check(name, "fail", "missing " + ", ".join(missing), fix)
    wanted = [perm for perm, bit in RECOMMENDED_PERMISSIONS.items() if not granted & bit]
    has = "has " + ", ".join(REQUIRED_PERMISSIONS)
    if wanted:
        return Check(name, "warn", f"{has}; missing {', '.join(wanted)} (recommended)", fix)
    return Check(name, "ok", f"{has}, {', '.join(RECOMMENDED_PERMISSIONS)}")


# ----------------------------------------------------------------------------- the host
def model_checks(settings: Settings) -> list[Check]:
    """Every catalog model can be loaded from here (the default one must)."""
    engine = settings.engine
    try:
        catalog = Catalog.load(engine.models_file)
    except Exception as exc:  # a broken models file is exactly what the doctor is for
        return [Check("models", "fail", str(exc), "fix engine.models_file")]
    if engine.default_model not in catalog:
        return [
            Check(
                "default model",
                "fail",
                f"{engine.default_model!r} is not in the catalog",
                f"set engine.default_model to one of {', '.join(catalog.names())}",
            )
        ]
    checks = []
    for spec in catalog:
        default = spec.name == engine.default_model
        problem = _unreachable(spec)
        if problem is None:
            if default:
                checks.append(Check(f"model {spec.name}", "ok", f"the default; {spec.source}"))
            continue
        # A hub model not downloaded yet is fetched by its first job (slow, but it works).
        fatal = default and spec.hub is None
        checks.append(Check(f"model {spec.name}", "fail" if fatal else "warn", *problem))
    return checks


def _unreachable(spec: ModelSpec) -> tuple[str, str] | None:
    """Why ``spec`` cannot be loaded offline, and the fix; None when it can."""
    if spec.builtin is not None:
        return None  # built in code on first use
    if spec.hub is not None:
        if hub_snapshot(spec.hub) is not None:
            return None
        return (
            f"{spec.hub} is not downloaded; the first job will try to download it",
            f"download it ahead: `hf download {spec.hub}` (or remove the entry)",
        )
    path = spec.folder or spec.checkpoint
    assert path is not None
    if spec.folder is not None and not (spec.folder / "model_index.json").is_file():
        return (f"{path} is not a diffusers folder", "fix its folder in engine.models_file")
    if spec.checkpoint is not None and not spec.checkpoint.is_file():
        return (f"{path} does not exist", "fix its checkpoint in engine.models_file")
    return None


def gpu_checks(settings: Settings) -> list[Check]:
    """The accelerator this host paints on, and the machine's memory."""
    checks = [_memory_check()]
    device = settings.engine.device
    paints_here = not settings.queue.redis_url
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return [*checks, Check("gpu", "fail", "torch is not installed", "run scripts/setup.sh")]
    if torch.cuda.is_available():
        index = torch.cuda.current_device()
        free, total = torch.cuda.mem_get_info(index)
        name = torch.cuda.get_device_name(index)
        status: Status = "ok" if total >= 6 * GiB else "warn"
        detail = f"{name}, {free / GiB:.1f} of {total / GiB:.1f} GiB free"
        checks.append(Check("gpu", status, detail, "SD 1.5 wants ≥ 6 GiB; try cpu_offload"))
    elif device.startswith("cuda"):
        checks.append(
            Check(
                "gpu",
                "fail",
                f"engine.device is {device!r} but torch sees no CUDA GPU "
                f"(torch {torch.__version__})",
                "install a CUDA torch (README: Using a GPU) or set engine.device=auto",
            )
        )
    elif not paints_here:
        checks.append(Check("gpu", "ok", "none here; this host does not paint (Redis workers do)"))
    else:
        checks.append(
            Check(
                "gpu",
                "warn",
                "no CUDA GPU: images are painted on the CPU (minutes per image at 512²)",
                "run on a machine with an NVIDIA GPU, or add GPU workers (queue.redis_url)",
            )
        )
    return checks


def _memory_check() -> Check:
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
        fields = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in lines if line}
    except (OSError, ValueError, IndexError):
        return Check("memory", "ok", "not readable on this system (no /proc/meminfo)")
    available = fields.get("MemAvailable", 0)
    total = fields.get("MemTotal", 0)
    status: Status = "ok" if available >= 4 * GiB else "warn"
    return Check(
        "memory",
        status,
        f"{available / GiB:.1f} of {total / GiB:.1f} GiB available",
        "a model needs 4–8 GiB of RAM while it loads; free memory or add swap",
    )


def disk_checks(settings: Settings) -> list[Check]:
    checks = []
    seen: set[int] = set()
    for label, path in (
        ("state file", settings.queue.db_path),
        ("images", settings.queue.images_dir),
        ("model cache", settings.engine.cache_dir),
    ):
        existing = _existing(path)
        device = os.stat(existing).st_dev
        if device in seen:
            continue
        seen.add(device)
        free = shutil.disk_usage(existing).free
        status: Status = "ok" if free >= 5 * GiB else "warn" if free >= GiB else "fail"
        checks.append(
            Check(
                f"disk ({label}, {existing})",
                status,
                f"{free / GiB:.1f} GiB free",
                "free space, or lower queue.retention_days (old images are deleted after it)",
            )
        )
    return checks


def _existing(path: Path) -> Path:
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def database_checks(settings: Settings) -> list[Check]:
    """The state file can be written (a write transaction, rolled back) and is not damaged;
    the images folder takes a file."""
    db = settings.queue.db_path
    checks = []
    if not db.exists():
        folder = _existing(db.parent)
        if os.access(folder, os.W_OK):
            checks.append(Check("database", "ok", f"{db} will be created on first start"))
        else:
            checks.append(
                Check("database", "fail", f"cannot create {db}", f"make {folder} writable")
            )
    else:
        try:
            # The same checks the bot makes before it writes to the file (read-only: a refused
            # file keeps every byte): a SQLite job store of a known schema, intact, writable.
            check_state_file(db)
            checks.append(Check("database", "ok", f"{db} is writable and intact"))
        except StoreCorrupt as exc:
            checks.append(Check("database", "fail", str(exc), "`muralist restore` a backup"))
        except StorageUnwritable as exc:
            checks.append(
                Check(
                    "database",
                    "fail",
                    exc.problem,
                    "make the file and its folder writable by the bot's user, or free space "
                    "(SQLite also writes -wal and -shm files beside it)",
                )
            )
    images = settings.queue.images_dir
    if not images.exists():
        folder = _existing(images)
        status: Status = "ok" if os.access(folder, os.W_OK) else "fail"
        checks.append(
            Check("images folder", status, f"{images} will be created", f"make {folder} writable")
        )
        return checks
    try:
        check_images_folder(images)
        checks.append(Check("images folder", "ok", f"{images} is writable"))
    except StorageUnwritable as exc:
        checks.append(
            Check("images folder", "fail", f"{images}: {exc.problem}", "make it writable")
        )
    return checks


async def redis_checks(settings: Settings) -> list[Check]:
    """Redis answers and keeps what it is told across a restart (append-only file on)."""
    url = settings.queue.redis_url
    if not url:
        return [Check("redis", "ok", "not used (one process paints; queue.redis_url unset)")]
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError, ResponseError

    client = aioredis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        await client.ping()
        try:
            appendonly = (await client.config_get("appendonly")).get("appendonly")
        except ResponseError as exc:
            return [
                Check(
                    "redis",
                    "warn",
                    f"reachable, but its settings cannot be read ({exc})",
                    "make sure redis.conf has `appendonly yes`",
                )
            ]
        beats = await client.hgetall(f"{settings.queue.stream_prefix}:workers")
        now, timeout = time.time(), settings.queue.worker_timeout_seconds
        workers = sum(
            1 for raw in beats.values() if now - WorkerInfo.model_validate_json(raw).time < timeout
        )
    except (RedisError, OSError) as exc:
        return [
            Check(
                "redis",
                "fail",
                f"cannot reach {_without_password(url)} ({exc})",
                "start redis-server, or fix queue.redis_url",
            )
        ]
    finally:
        await client.aclose()
    checks = [
        Check(
            "redis persistence",
            "ok" if appendonly == "yes" else "fail",
            f"appendonly {appendonly}",
            "set `appendonly yes` in redis.conf (or CONFIG SET appendonly yes, then "
            "CONFIG REWRITE): without it a Redis restart loses the jobs in flight",
        ),
        Check(
            "gpu workers",
            "ok" if workers else "warn",
            f"{workers} alive (heartbeat in Redis)",
            "start `muralist worker` on a GPU machine with the same queue.redis_url",
        ),
    ]
    return [Check("redis", "ok", f"{_without_password(url)} answers"), *checks]


def _without_password(url: str) -> str:
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


Role = Literal["all", "bot", "worker"]


async def diagnose(settings: Settings, role: Role = "all") -> list[Check]:
    """The checks for this host's role, in the order an admin would fix things: ``bot`` beside
    GPU workers needs Discord, Redis and its state file; a ``worker`` needs Redis, the models
    and a GPU; ``all`` (one process) needs everything."""
    remote: list[Callable[[Settings], Awaitable[list[Check]]]] = [redis_checks]
    local: list[Callable[[Settings], list[Check]]] = [disk_checks]
    if role != "worker":
        remote.insert(0, discord_checks)
        local.insert(0, database_checks)
    if role != "bot":
        local += [model_checks, gpu_checks]
    else:
        local.append(lambda s: [_memory_check()])
    checks: list[Check] = []
    for remote_check in remote:
        checks += await remote_check(settings)
    for check in local:
        checks += await asyncio.to_thread(check, settings)
    return checks


# ----------------------------------------------------------------------------- health
def bot_alive(settings: Settings) -> tuple[bool, str]:
    """The bot's metrics endpoint answers: its process and its queue are up."""
    port = settings.queue.metrics_port
    if port is None:
        return False, "queue.metrics_port is not set: the bot has no endpoint to ask"
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            body = answer.read()
    except OSError as exc:
        return False, f"{url}: {exc}"
    if b"muralist_" not in body:
        return False, f"{url} answers, but not with Muralist's metrics"
    return True, f"{url} answers"


async def worker_alive(settings: Settings, name: str) -> tuple[bool, str]:
    """The worker's heartbeat in Redis is younger than ``queue.worker_timeout_seconds``."""
    url = settings.queue.redis_url
    if not url:
        return False, "queue.redis_url is not set: a worker takes its jobs from Redis"
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    client = aioredis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        raw = await client.hget(f"{settings.queue.stream_prefix}:workers", name)
    except (RedisError, OSError) as exc:
        return False, f"cannot reach {_without_password(url)} ({exc})"
    finally:
        await client.aclose()
    if raw is None:
        return False, f"no heartbeat of worker {name!r} in Redis"
    age = time.time() - WorkerInfo.model_validate_json(raw).time
    fresh = age < settings.queue.worker_timeout_seconds
    return fresh, f"worker {name!r}: last heartbeat {age:.0f} s ago"
