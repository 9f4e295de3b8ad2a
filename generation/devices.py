"""Where a pipeline runs and how: device, dtype, backend flags and the memory/speed options.

Choices (``engine.device`` / ``engine.dtype`` = ``auto``): CUDA → fp16, Apple MPS → fp16,
otherwise CPU → fp32. bf16 is opt-in. Two requests cannot be honoured and are downgraded with a
logged warning rather than refused, so one config file works on every machine of a fleet:
fp16 or bf16 on a CPU → fp32 (half precision on a CPU is slow or unsupported and can produce
black images), and bf16 on a GPU without bf16 support → fp16. Model and sequential CPU offload
need an accelerator to offload *to*: on a CPU they are skipped with a warning. A device that is
not there (``cuda`` on a machine without CUDA) is a configuration error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from generation.errors import InvalidRequest

if TYPE_CHECKING:
    from generation.config import EngineConfig

logger = logging.getLogger(__name__)

DType = Literal["fp32", "fp16", "bf16"]


@dataclass(frozen=True)
class Accelerators:
    """What the machine offers; probed from torch, or given by a test."""

    cuda_devices: int = 0
    mps: bool = False
    cuda_bf16: bool = False

    @classmethod
    def probe(cls) -> Accelerators:
        import torch

        cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return cls(
            cuda_devices=cuda,
            mps=torch.backends.mps.is_available(),
            cuda_bf16=bool(cuda) and torch.cuda.is_bf16_supported(),
        )


@dataclass(frozen=True)
class Placement:
    """The device a pipeline runs on and the dtype of its weights."""

    device: str
    dtype: DType

    @property
    def torch_dtype(self) -> Any:
        import torch

        return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[self.dtype]

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def is_accelerator(self) -> bool:
        return self.device != "cpu"


def resolve_placement(
    device: str = "auto", dtype: str = "auto", accelerators: Accelerators | None = None
) -> Placement:
    """Turn the configured device and dtype (maybe ``auto``) into what this machine can do."""
    found = accelerators or Accelerators.probe()
    if device == "auto":
        device = "cuda" if found.cuda_devices else "mps" if found.mps else "cpu"
    elif device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        if index >= found.cuda_devices:
            have = f"{found.cuda_devices} CUDA device(s)" if found.cuda_devices else "no CUDA"
            raise InvalidRequest(
                "engine.device",
                f"{device} is not available ({have}; is a CUDA build of torch installed?); "
                "use auto, cpu, mps or an existing cuda:N",
            )
    elif device == "mps" and not found.mps:
        raise InvalidRequest("engine.device", "mps is not available here; use auto or cpu")
    if device == "cpu":
        if dtype in ("fp16", "bf16"):
            logger.warning("engine.dtype=%s is not supported on the CPU; using fp32", dtype)
        return Placement("cpu", "fp32")
    if dtype == "auto":
        return Placement(device, "fp16")
    if dtype == "bf16" and device.startswith("cuda") and not found.cuda_bf16:
        logger.warning("this GPU has no bf16 support; using fp16 instead")
        return Placement(device, "fp16")
    return Placement(device, dtype)  # type: ignore[arg-type]  # fp32/fp16/bf16 by the config


def configure_backends(placement: Placement, *, cudnn_benchmark: bool, tf32: bool) -> None:
    """Set torch's process-wide CUDA flags (cuDNN autotuning, TF32 matmuls and convolutions).

    Only on CUDA: the flags mean nothing elsewhere, and leaving them alone keeps CPU runs
    bit-reproducible. Uses the ``fp32_precision`` API where torch has it (2.9+).
    """
    if not placement.is_cuda:
        return
    import torch

    torch.backends.cudnn.benchmark = cudnn_benchmark
    precision = "tf32" if tf32 else "ieee"
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        torch.backends.cuda.matmul.fp32_precision = precision
        torch.backends.cudnn.conv.fp32_precision = precision
    else:  # older torch
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32


def place_pipeline(pipe: Any, config: EngineConfig, placement: Placement) -> list[str]:
    """Move ``pipe`` to its device and apply every memory/speed option; return those applied.

    Order matters: memory format and attention processors are set on the plain modules, then
    the pipeline is placed (or offloaded), and ``torch.compile`` wraps the UNet last.
    """
    import torch

    applied: list[str] = []
    if config.channels_last:
        pipe.unet.to(memory_format=torch.channels_last)
        applied.append("channels_last")
    if config.attention_slicing:
        pipe.enable_attention_slicing("auto")
        applied.append("attention_slicing")
    if config.vae_slicing:
        pipe.vae.enable_slicing()
        applied.append("vae_slicing")
    if config.vae_tiling:
        pipe.vae.enable_tiling()
        applied.append("vae_tiling")
    offload = config.cpu_offload
    if offload != "none" and not placement.is_accelerator:
        logger.warning(
            "engine.cpu_offload=%s needs a GPU to offload to; running on the CPU without it",
            offload,
        )
        offload = "none"
    if offload == "model":
        pipe.enable_model_cpu_offload(device=placement.device)
        applied.append("model_cpu_offload")
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=placement.device)
        applied.append("sequential_cpu_offload")
    else:
        pipe.to(placement.device)
    if config.fuse_qkv:
        pipe.fuse_qkv_projections()
        applied.append("fuse_qkv")
    if config.compile_unet:
        # Compiled lazily on the first call of each shape: the engine's warm_up makes those
        # calls at start-up. "warmup" specialises a graph per shape (fastest kernels; the engine
        # runs unwarmed shapes uncompiled), "dynamic" traces one graph with symbolic sizes.
        dynamic = config.compile_shapes == "dynamic"
        pipe.unet = torch.compile(pipe.unet, mode=config.compile_mode, dynamic=dynamic)
        applied.append("compile_unet")
    return applied
