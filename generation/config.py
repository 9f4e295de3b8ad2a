"""Settings of the engine and the queue (plain pydantic models; ``bot.config`` composes them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from generation.requests import MAX_GUIDANCE, MAX_SIDE, MAX_STEPS, MIN_SIDE
from generation.schedulers import SchedulerName

Quantize = Literal["none", "bnb_nf4", "bnb_int8", "torchao_int8", "torchao_fp8"]
"""``generation.quantization``: bitsandbytes 4/8-bit (CUDA), torchao int8 (CPU too), fp8 (CUDA)."""


class EngineConfig(BaseModel):
    """How models are loaded and run. Every option here is applied by the engine."""

    model_config = ConfigDict(extra="forbid")

    default_model: str = Field(
        default="tiny", description="Catalog name used when a request names no model."
    )
    models_file: Path | None = Field(
        default=None, description="A TOML catalog of extra models, merged over the shipped one."
    )
    cache_dir: Path = Field(
        default=Path(".cache/muralist"), description="Where the built-in model is written."
    )
    pipeline_cache_size: int = Field(
        default=2, ge=1, le=16, description="Loaded models kept in memory (least recent goes)."
    )
    device: str = Field(
        default="auto",
        pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$",
        description="auto = CUDA, else MPS, else CPU.",
    )
    dtype: Literal["auto", "fp32", "fp16", "bf16"] = Field(
        default="auto", description="auto = fp16 on CUDA/MPS, fp32 on CPU (fp16 on CPU → fp32)."
    )
    attention_slicing: bool = Field(default=False, description="Attention in slices: less memory.")
    vae_slicing: bool = Field(default=False, description="Decode a batch one image at a time.")
    vae_tiling: bool = Field(default=False, description="Decode in tiles (large images).")
    cpu_offload: Literal["none", "model", "sequential", "group"] = Field(
        default="none",
        description="Keep weights on the CPU and move them to the GPU when used (needs a GPU): "
        "model = whole components, sequential = layer by layer, group = blocks of layers.",
    )
    layerwise_casting: bool = Field(
        default=False,
        description="Store the UNet/transformer weights in fp8 (e4m3), compute in the dtype: "
        "about half the memory of fp16 weights.",
    )
    quantize: Quantize = Field(
        default="none",
        description="Quantize FLUX.1/SD 3.5 transformers and T5 encoders as they load "
        "(bnb_* and torchao_fp8 need CUDA).",
    )
    channels_last: bool = Field(default=False, description="UNet in channels-last memory format.")
    fuse_qkv: bool = Field(
        default=False,
        description="Fuse attention's query/key/value projections into one matmul "
        "(diffusers' fuse_qkv_projections; see bench/gpu_engine.py).",
    )
    compile_unet: bool = Field(
        default=False,
        description="torch.compile the UNet, at start-up (`muralist worker`, or the engine's "
        "warm_up), for the shapes `compile_shapes` says.",
    )
    compile_shapes: Literal["warmup", "dynamic"] = Field(
        default="warmup",
        description="warmup: one static graph per warm-up shape (warmup_sizes × warmup_images), "
        "other shapes run uncompiled; dynamic: one graph for every shape.",
    )
    compile_mode: Literal["default", "reduce-overhead", "max-autotune"] = Field(
        default="default", description="torch.compile's mode (max-autotune: longer compiles)."
    )
    warmup_sizes: list[str] = Field(
        default_factory=list,
        description="WxH sizes compiled at start-up (empty: the model's native size).",
    )
    warmup_images: list[int] = Field(
        default_factory=lambda: [4, 8],
        description="Images per engine call compiled at start-up, for each warm-up size.",
    )
    gc_freeze: bool = Field(
        default=True,
        description="gc.freeze() after a model loads: full collections skip its ~500k objects.",
    )
    cudnn_benchmark: bool = Field(default=True, description="cuDNN autotuning (CUDA only).")
    tf32: bool = Field(default=True, description="TF32 matmuls on Ampere and newer (CUDA only).")
    max_pixels: int = Field(
        default=1024 * 1024, ge=64 * 64, le=4096 * 4096, description="Largest width × height."
    )
    max_upscale_pixels: int = Field(
        default=2048 * 2048,
        ge=64 * 64,
        le=4096 * 4096,
        description="Largest width × height of an upscale (its own limit: the ×2 of SD 2.x and "
        "×1.5 of SDXL images exceed max_pixels).",
    )
    default_steps: int = Field(
        default=20, ge=1, le=MAX_STEPS, description="Steps when none are given."
    )
    default_guidance: float = Field(
        default=7.0, ge=0.0, le=MAX_GUIDANCE, description="CFG scale when none is given."
    )
    default_scheduler: SchedulerName = Field(
        default="DPM++ 2M Karras", description="Sampler when none is given (`muralist schedulers`)."
    )

    @model_validator(mode="after")
    def _fusing_replaces_slicing(self) -> EngineConfig:
        if self.fuse_qkv and self.attention_slicing:
            raise ValueError(
                "fuse_qkv and attention_slicing both replace the attention processors; choose one"
            )
        return self

    @field_validator("warmup_sizes")
    @classmethod
    def _sizes(cls, value: list[str]) -> list[str]:
        for size in value:
            width, _, height = size.partition("x")
            if not (width.isdigit() and height.isdigit()):
                raise ValueError(f"{size!r} is not WIDTHxHEIGHT (e.g. 512x768)")
            for side in (int(width), int(height)):
                if not MIN_SIDE <= side <= MAX_SIDE or side % 8:
                    raise ValueError(
                        f"{size!r}: each side must be a multiple of 8 in {MIN_SIDE}..{MAX_SIDE}"
                    )
        return value

    @field_validator("warmup_images")
    @classmethod
    def _images(cls, value: list[int]) -> list[int]:
        for images in value:
            if not 1 <= images <= 16:
                raise ValueError(f"{images} images per call is outside 1..16")
        return value

    def warmup_shapes(self, native: tuple[int, int]) -> list[tuple[int, int]]:
        """The (width, height) pairs to compile at start-up (default: the model's native size)."""
        if not self.warmup_sizes:
            return [native]
        pairs = [size.partition("x") for size in self.warmup_sizes]
        return [(int(width), int(height)) for width, _, height in pairs]


# Limits a guild may override (``generation.queue.Limits``, studio's guild settings):
# one range each, declared here.
PerUserCap = Annotated[int, Field(ge=1, le=100)]
PerGuildCap = Annotated[int, Field(ge=1, le=10_000)]
CooldownSeconds = Annotated[float, Field(ge=0.0, le=3600.0)]


class QueueConfig(BaseModel):
    """Fairness, limits, persistence and scale-out of the job queue."""

    model_config = ConfigDict(extra="forbid")

    db_path: Path = Field(default=Path("muralist.db"), description="The SQLite state file.")
    images_dir: Path = Field(
        default=Path("muralist-images"), description="Where finished images are kept."
    )
    retention_days: int = Field(
        default=30, ge=0, description="Finished jobs and images are deleted after this (0: keep)."
    )
    per_user_cap: PerUserCap = Field(
        default=3, description="Jobs one user may have waiting or running."
    )
    per_guild_cap: PerGuildCap = Field(
        default=50, description="Jobs one server may have waiting or running."
    )
    global_cap: int = Field(
        default=500, ge=1, le=100_000, description="Jobs waiting or running in all."
    )
    cooldown_seconds: CooldownSeconds = Field(
        default=0.0, description="Minimum gap between one user's requests."
    )
    max_batch: int = Field(
        default=8,
        ge=1,
        le=16,
        description="Images of compatible jobs run in one GPU call (above the default count of "
        "4, so two members' jobs of the same shape share a call).",
    )
    batch_window_seconds: float = Field(
        default=0.0,
        ge=0.0,
        le=5.0,
        description="With the GPU idle, hold a batch that is not full this long after its first "
        "job arrived, for same-shape jobs to join (0: dispatch at once).",
    )
    progress_interval_seconds: float = Field(
        default=1.5, ge=0.0, le=60.0, description="Minimum gap between step events per job."
    )
    redis_url: str | None = Field(default=None, description="Set to scale out to GPU workers.")
    claim_idle_seconds: float | None = Field(
        default=None,
        gt=0.0,
        description="A silent worker's batch goes to another after this (unset: 2 heartbeats, "
        "10 s by default; a live worker renews its claim every heartbeat).",
    )
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="Prometheus endpoint port (unset: off)."
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Address the metrics endpoint binds."
    )
    priority_weights: dict[str, float] = Field(
        default_factory=lambda: {"default": 1.0, "booster": 2.0, "moderator": 3.0},
        description="Share of the GPU per priority class; every class keeps a share > 0.",
    )
    local_slots: int = Field(
        default=1, ge=1, le=16, description="Batches run at once by the in-process engine."
    )
    eta_smoothing: float = Field(
        default=0.3, gt=0.0, le=1.0, description="Weight of the newest measurement in the ETA."
    )
    stream_prefix: str = Field(
        default="muralist", pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="Redis key prefix."
    )
    result_transport: Literal["redis", "folder"] = Field(
        default="redis", description="How workers send PNGs back: a Redis key or a shared folder."
    )
    result_dir: Path | None = Field(
        default=None, description="The shared folder when result_transport is 'folder'."
    )
    result_ttl_seconds: int = Field(
        default=3600, ge=60, le=7 * 86400, description="How long a result waits in Redis."
    )
    heartbeat_seconds: float = Field(
        default=5.0, gt=0.0, le=300.0, description="How often workers report alive."
    )
    worker_timeout_seconds: float = Field(
        default=20.0, gt=0.0, le=3600.0, description="A worker silent this long is counted dead."
    )
    redis_backoff_max_seconds: float = Field(
        default=10.0, gt=0.0, le=600.0, description="Longest retry pause while Redis is down."
    )

    @property
    def reclaim_after_seconds(self) -> float:
        """How long a batch's worker may stay silent before another takes the batch: derived
        from the heartbeat, so a dead worker's batch is back within about 11 s by default."""
        if self.claim_idle_seconds is not None:
            return self.claim_idle_seconds
        return 2 * self.heartbeat_seconds

    @field_validator("priority_weights")
    @classmethod
    def _weights_positive(cls, value: dict[str, float]) -> dict[str, float]:
        if "default" not in value:
            raise ValueError("needs a 'default' class")
        for name, weight in value.items():
            if not 0.0 < weight <= 100.0:
                raise ValueError(f"weight of {name!r} must be in (0, 100], not {weight}")
        return value

    @model_validator(mode="after")
    def _folder_needs_dir(self) -> QueueConfig:
        if self.result_transport == "folder" and self.result_dir is None:
            raise ValueError("result_transport 'folder' needs result_dir (a folder both sides see)")
        return self
