"""Quantized loading of the big parts of FLUX.1 and SD 3.5: the transformer and the T5 encoder.

Through diffusers' ``PipelineQuantizationConfig`` at ``from_pretrained``, so the weights are
quantized as they load and never sit in memory at full precision. Backends:

- ``bnb_nf4`` / ``bnb_int8``: bitsandbytes 4-bit NF4 or LLM.int8(); CUDA only.
- ``torchao_int8``: torchao int8 weight-only; runs on CUDA and on the CPU.
- ``torchao_fp8``: torchao float8 weight-only; CUDA GPUs with fp8 support (Ada, Hopper).

A backend that cannot run here is refused before anything loads, with the reason and what to use
instead. The UNet families (SD 1.x/2.x/SDXL) fit the GPUs this targets without it and are loaded
as they are.
"""

from __future__ import annotations

import importlib.util
import typing
from typing import Any

from generation.config import Quantize
from generation.devices import Placement
from generation.errors import InvalidRequest

QUANTIZE_CHOICES: tuple[str, ...] = typing.get_args(Quantize)
_NEEDS_CUDA = {"bnb_nf4", "bnb_int8", "torchao_fp8"}
_PACKAGE = {"bnb": "bitsandbytes", "torchao": "torchao"}


def check_backend(option: str, placement: Placement) -> None:
    """Refuse a backend this machine cannot run (field ``engine.quantize``)."""
    if option == "none":
        return
    if option in _NEEDS_CUDA and not placement.is_cuda:
        raise InvalidRequest(
            "engine.quantize",
            f"{option} needs a CUDA GPU, and this engine runs on {placement.device}; "
            "use torchao_int8 (runs on the CPU) or none",
        )
    package = _PACKAGE[option.split("_")[0]]
    if importlib.util.find_spec(package) is None:
        raise InvalidRequest(
            "engine.quantize",
            f"{option} needs the {package} package; install it (pip install {package}, pinned in "
            "constraints.txt) or set none",
        )


def quantized_components(family: str, *, t5: bool = True) -> list[str]:
    """The components worth quantizing: the transformer and the T5 encoder."""
    if family == "flux":
        return ["transformer", "text_encoder_2"]
    if family == "sd3":
        return ["transformer", "text_encoder_3"] if t5 else ["transformer"]
    return []


def pipeline_config(option: str, components: list[str], dtype: Any) -> Any:
    """diffusers' ``PipelineQuantizationConfig`` for ``option`` over ``components`` (or None)."""
    if option == "none" or not components:
        return None
    from diffusers import PipelineQuantizationConfig

    if option.startswith("bnb_"):
        four = option == "bnb_nf4"
        kwargs: dict[str, Any] = (
            {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_compute_dtype": dtype}
            if four
            else {"load_in_8bit": True}
        )
        backend = "bitsandbytes_4bit" if four else "bitsandbytes_8bit"
        return PipelineQuantizationConfig(
            quant_backend=backend, quant_kwargs=kwargs, components_to_quantize=components
        )
    from diffusers import TorchAoConfig
    from torchao.quantization import Float8WeightOnlyConfig, Int8WeightOnlyConfig
    from transformers import TorchAoConfig as TransformersTorchAoConfig

    def scheme() -> Any:
        return Int8WeightOnlyConfig() if option == "torchao_int8" else Float8WeightOnlyConfig()

    mapping = {
        name: TorchAoConfig(scheme())
        if name == "transformer"
        else TransformersTorchAoConfig(scheme())
        for name in components
    }
    return PipelineQuantizationConfig(quant_mapping=mapping)
