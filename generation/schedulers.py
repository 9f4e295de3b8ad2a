"""Schedulers (A1111's "samplers") by display name, built per request from the model's own config.

The table holds class names as strings, so validating a request or offering the bot's choices needs
no torch. Names and settings follow diffusers' A1111 mapping: "DPM++ SDE" is
``DPMSolverSinglestepScheduler`` there (diffusers' ``DPMSolverSDEScheduler`` needs ``torchsde``,
which we do not install), and "LMS" needs scipy.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import AfterValidator

from generation.errors import InvalidRequest

# Every sigma schedule a class may carry in a model's config: each entry states all three, so a
# model shipped with Karras sigmas still gets plain sigmas under the plain name.
_SIGMA_KINDS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")


@dataclass(frozen=True)
class SchedulerSpec:
    name: str
    class_name: str
    options: dict[str, Any] = field(default_factory=dict)
    karras: bool = False
    ancestral: bool = False  # draws fresh noise at each step from the image's generator


SCHEDULERS: dict[str, SchedulerSpec] = {
    spec.name: spec
    for spec in (
        SchedulerSpec("DPM++ 2M", "DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
        SchedulerSpec(
            "DPM++ 2M Karras",
            "DPMSolverMultistepScheduler",
            {"algorithm_type": "dpmsolver++"},
            karras=True,
        ),
        SchedulerSpec(
            "DPM++ 2M SDE",
            "DPMSolverMultistepScheduler",
            {"algorithm_type": "sde-dpmsolver++"},
            ancestral=True,
        ),
        SchedulerSpec(
            "DPM++ 2M SDE Karras",
            "DPMSolverMultistepScheduler",
            {"algorithm_type": "sde-dpmsolver++"},
            karras=True,
            ancestral=True,
        ),
        SchedulerSpec("DPM++ SDE", "DPMSolverSinglestepScheduler", {"lower_order_final": True}),
        SchedulerSpec(
            "DPM++ SDE Karras",
            "DPMSolverSinglestepScheduler",
            {"lower_order_final": True},
            karras=True,
        ),
        SchedulerSpec("Euler", "EulerDiscreteScheduler"),
        SchedulerSpec("Euler a", "EulerAncestralDiscreteScheduler", ancestral=True),
        SchedulerSpec("Heun", "HeunDiscreteScheduler"),
        SchedulerSpec("DDIM", "DDIMScheduler"),
        SchedulerSpec("UniPC", "UniPCMultistepScheduler"),
        SchedulerSpec("LMS", "LMSDiscreteScheduler"),
        SchedulerSpec("LMS Karras", "LMSDiscreteScheduler", karras=True),
        SchedulerSpec("PNDM", "PNDMScheduler", {"skip_prk_steps": True}),
        # Few-step models: LCM-LoRA's own sampler, and A1111's "SGM Uniform" schedule (trailing
        # timesteps), which SDXL-Lightning and SDXL-Turbo were distilled with.
        SchedulerSpec("LCM", "LCMScheduler"),
        SchedulerSpec(
            "Euler SGM Uniform", "EulerDiscreteScheduler", {"timestep_spacing": "trailing"}
        ),
        SchedulerSpec(
            "Euler a SGM Uniform",
            "EulerAncestralDiscreteScheduler",
            {"timestep_spacing": "trailing"},
            ancestral=True,
        ),
    )
}

SCHEDULER_NAMES: tuple[str, ...] = tuple(SCHEDULERS)
FLOW_NAMES: tuple[str, ...] = ("Euler",)
"""The names that sample flow-matching models: Euler is their own (FlowMatchEulerDiscrete)."""


def resolve(name: str) -> SchedulerSpec:
    """The spec for ``name`` (case and spacing forgiven), or an error listing the valid names."""
    wanted = " ".join(name.split()).casefold()
    for spec in SCHEDULERS.values():
        if spec.name.casefold() == wanted:
            return spec
    raise InvalidRequest(
        "scheduler", f"unknown scheduler {name!r}; choose one of: {', '.join(SCHEDULER_NAMES)}"
    )


def _known(name: str) -> str:
    try:
        resolve(name)
    except InvalidRequest as exc:
        raise ValueError(exc.message) from None
    return name


SchedulerName = Annotated[str, AfterValidator(_known)]
"""A setting naming a scheduler: refused when loaded, not on every request that falls back to it."""


def build(name: str, base_config: Any) -> Any:
    """A fresh scheduler ``name`` from a pipeline's scheduler config (never mutates the pipeline).

    ``Cls.from_config`` keeps the model's training settings (betas, prediction type, timestep
    spacing) and takes the sampler's own options on top.
    """
    import diffusers

    spec = resolve(name)
    own = str(base_config.get("_class_name", "")) if hasattr(base_config, "get") else ""
    if own.startswith("FlowMatch"):  # FLUX.1, SD 3.5: the model's own flow-matching sampler
        if spec.name not in FLOW_NAMES:
            raise InvalidRequest(
                "scheduler",
                f"{spec.name} cannot sample flow-matching models (FLUX.1, SD 3.5); "
                f"use {' or '.join(FLOW_NAMES)}",
            )
        return getattr(diffusers, own).from_config(base_config)
    cls = getattr(diffusers, spec.class_name)
    accepted = inspect.signature(cls.__init__).parameters
    options = dict(spec.options)
    for kind in _SIGMA_KINDS:
        options[kind] = spec.karras and kind == "use_karras_sigmas"
    return cls.from_config(base_config, **{k: v for k, v in options.items() if k in accepted})
