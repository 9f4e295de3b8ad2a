"""Settings of the safety checks (plain pydantic model; ``bot.config`` composes it)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class SafetyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    terms_file: Path | None = Field(
        default=None, description="Extra blocked terms (TOML), merged over the shipped list."
    )
    image_check: bool = True
    reports_to_hide: int = Field(default=3, ge=1, le=100)
