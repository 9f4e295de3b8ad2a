"""Settings of prompt handling (plain pydantic model; ``bot.config`` composes it)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class PromptingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_prompt_chars: int = Field(
        default=2000, ge=10, le=20_000, description="Longest prompt field accepted."
    )
    presets_file: Path | None = Field(
        default=None,
        description="A TOML file of extra style presets, merged over the shipped ones.",
    )
