"""The one configuration model: ``MURALIST_*`` environment variables and an optional TOML file.

Nested sections use ``__`` in variable names (``MURALIST_ENGINE__DEVICE=cuda``). A TOML file given
by ``MURALIST_CONFIG`` (or ``--config``) has the same sections (``[engine]``, ``[queue]``, …);
environment variables win over the file. Validated once at start-up: a bad value is one error that
names the setting.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from generation.config import EngineConfig, QueueConfig
from prompting.config import PromptingConfig
from safety.config import SafetyConfig
from studio.config import (
    DefaultCount,
    ImageSide,
    ImageStrength,
    InputBytes,
    InputPixels,
    StudioOptions,
)

_STUDIO = StudioOptions()
"""Studio's defaults: the ``[discord]`` settings that studio applies start from them."""
STUDIO_SETTINGS: set[str] = {
    "image_side",
    "default_count",
    "image_strength",
    "input_max_pixels",
    "input_max_bytes",
}
"""The ``[discord]`` settings that are ``StudioOptions`` (the start-up wiring passes them on)."""

DISCORD_API_BASE = "https://discord.com/api/v10"
DISCORD_GATEWAY = "wss://gateway.discord.gg/"


class DiscordConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: SecretStr | None = Field(default=None, description="The bot token; never logged.")
    api_base: str = Field(default=DISCORD_API_BASE, description="REST base URL (a proxy or test).")
    gateway_url: str = Field(default=DISCORD_GATEWAY, description="Gateway URL (a proxy or test).")
    sync_guild_id: int | None = Field(
        default=None, description="Sync commands to this guild only (instant; for development)."
    )
    image_side: ImageSide | None = Field(
        default=None,
        description="Side of a 1:1 /imagine image (default: the model's native size); "
        "other aspects keep its pixel count.",
    )
    default_count: DefaultCount = Field(
        default=_STUDIO.default_count, description="Images per /imagine."
    )
    image_strength: ImageStrength = Field(
        default=_STUDIO.image_strength,
        description="img2img strength when /imagine has an image and no strength "
        "(0.05 keeps the picture, 1 repaints it).",
    )
    input_max_pixels: InputPixels = Field(
        default=_STUDIO.input_max_pixels,
        description="Most pixels an input picture may have (checked before decoding).",
    )
    input_max_bytes: InputBytes = Field(
        default=_STUDIO.input_max_bytes,
        description="Largest input file read (a guild's upload limit may be lower).",
    )
    progress_edit_seconds: float = Field(
        default=3.0, ge=0.0, le=60.0, description="At most one progress edit this often."
    )
    preview_every: int = Field(
        default=5, ge=0, le=150, description="A preview image every N steps (0: none)."
    )
    token_lifetime_seconds: float = Field(
        default=840.0,
        gt=0.0,
        le=900.0,
        description="Deliver through the interaction token until then, later to the channel.",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MURALIST_", env_nested_delimiter="__", extra="forbid"
    )

    discord: DiscordConfig = Field(default_factory=DiscordConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    queue: QueueConfig = Field(default_factory=QueueConfig)
    prompting: PromptingConfig = Field(default_factory=PromptingConfig)
    safety: SafetyConfig = Field(default_factory=SafetyConfig)
    log_level: str = Field(
        default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$", description="Log verbosity."
    )


class SettingsError(ValueError):
    """An invalid setting: names it as the user would set it, and says what is allowed."""


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, ``field.path: message``: what users see instead of a traceback."""
    lines = []
    for problem in error.errors():
        path = ".".join(str(part) for part in problem["loc"]) or "input"
        lines.append(f"{path}: {problem['msg']}")
    return "; ".join(lines)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read the TOML file (if any) under the environment, validate, and return the settings."""
    path = config_file or (
        Path(os.environ["MURALIST_CONFIG"]) if "MURALIST_CONFIG" in os.environ else None
    )
    file_values: dict[str, Any] = {}
    if path is not None:
        try:
            file_values = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise SettingsError(f"config file {path} does not exist") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"config file {path} is not valid TOML: {exc}") from exc
    try:
        from_env = Settings(**overrides)
        merged = _deep_merge(file_values, from_env.model_dump(exclude_unset=True))
        return Settings.model_validate(merged) if file_values else from_env
    except ValidationError as exc:
        raise SettingsError("invalid setting " + describe_validation_error(exc)) from exc


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
