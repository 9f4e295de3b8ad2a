"""Settings of the safety checks (plain pydantic model; ``bot.config`` composes it).

Environment variables use the ``MURALIST_SAFETY__`` prefix, e.g.
``MURALIST_SAFETY__REPORTS_TO_HIDE=5`` or
``MURALIST_SAFETY__NUDENET_THRESHOLDS='{"FEMALE_BREAST_EXPOSED": 0.6}'``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

# NudeNet 3.4 labels that make an image "flagged", with the score at or above which they count.
# Covered parts, faces, feet, bellies and armpits are not listed: they are ordinary in art.
# Measured on the photographs and graphics that ship in scikit-image and matplotlib and on
# colour-map renders (bench/safety_images.py): breasts and buttocks are "seen" in smooth colour
# gradients at up to 0.6 outside whole-frame boxes, so those two start at 0.6; nothing benign
# came near the genitalia and anus labels. Sensitivity on real nudity is not measured here (no
# explicit material is used, by policy), which is why the prompt filter comes first.
DEFAULT_NUDENET_THRESHOLDS: dict[str, float] = {
    "FEMALE_BREAST_EXPOSED": 0.6,
    "FEMALE_GENITALIA_EXPOSED": 0.35,
    "MALE_GENITALIA_EXPOSED": 0.35,
    "ANUS_EXPOSED": 0.35,
    "BUTTOCKS_EXPOSED": 0.6,
}

NUDENET_LABELS = frozenset(
    {
        "FEMALE_GENITALIA_COVERED",
        "FACE_FEMALE",
        "BUTTOCKS_EXPOSED",
        "FEMALE_BREAST_EXPOSED",
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_BREAST_EXPOSED",
        "ANUS_EXPOSED",
        "FEET_EXPOSED",
        "BELLY_COVERED",
        "FEET_COVERED",
        "ARMPITS_COVERED",
        "ARMPITS_EXPOSED",
        "FACE_MALE",
        "BELLY_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "ANUS_COVERED",
        "FEMALE_BREAST_COVERED",
        "BUTTOCKS_COVERED",
    }
)


class SafetyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    terms_file: Path | None = Field(
        default=None, description="Extra blocked terms (TOML), merged over the shipped list."
    )
    nudenet_model: Path | None = Field(
        default=None, description="An ONNX detector to use instead of NudeNet's bundled 320n."
    )
    nudenet_thresholds: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_NUDENET_THRESHOLDS),
        description="NudeNet label → minimum score that flags an image.",
    )
    max_box_fraction: float = Field(
        default=0.9,
        gt=0.0,
        le=1.0,
        description="A detection whose box spans more than this share of both the width and the "
        "height is ignored (NudeNet reads whole-frame graphics, like a colour wheel, as a body "
        "part); 1.0 keeps every box.",
    )
    max_image_pixels: int = Field(
        default=4096 * 4096,
        ge=1,
        le=100_000_000,
        description="Larger images are not decoded; they are withheld as uncheckable.",
    )
    max_image_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1, description="Larger files are withheld as uncheckable."
    )
    regex_timeout_ms: int = Field(
        default=100, ge=1, le=10_000, description="Time limit of one term pattern on one prompt."
    )
    regex_budget_ms: int = Field(
        default=250,
        ge=1,
        le=60_000,
        description="Time limit of all term patterns together on one prompt (all its texts).",
    )
    max_prompt_chars: int = Field(
        default=100_000,
        ge=100,
        le=10_000_000,
        description="Longer prompts are blocked unread (the engine itself allows 20,000).",
    )
    blur_radius_fraction: float = Field(
        default=0.06,
        gt=0.0,
        le=0.5,
        description="Spoiler blur radius as a share of the longer side.",
    )
    reports_to_hide: int = Field(
        default=3, ge=1, le=100, description="Reports by members that hide a result until reviewed."
    )

    @field_validator("nudenet_thresholds")
    @classmethod
    def _known_labels(cls, value: dict[str, float]) -> dict[str, float]:
        for label, score in value.items():
            if label not in NUDENET_LABELS:
                known = ", ".join(sorted(NUDENET_LABELS))
                raise ValueError(f"unknown NudeNet label {label!r}; known: {known}")
            if not 0.0 < score <= 1.0:
                raise ValueError(f"threshold of {label} must be in (0, 1], got {score}")
        return value
