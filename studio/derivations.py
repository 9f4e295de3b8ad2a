"""Requests derived from a stored job: reroll, subtle and strong variations, upscale, remix,
and the masked edits (zoom out, pan, vary region) on a canvas from ``studio.canvas``.

Pure functions over ``GenerationRequest``: the service reads the stored job and the image, these
decide what the new request is. Each result is validated again as a new request.
"""

from __future__ import annotations

import math
import random

from generation import sizes
from generation.errors import InvalidRequest
from generation.requests import SEED_MAX, GenerationRequest, PromptEdit
from prompting import BuiltPrompt
from studio.canvas import STRENGTH, Canvas
from studio.planning import prompt_fields

VARIATION_STRENGTH: dict[str, float] = {"vary_subtle": 0.2, "vary_strong": 0.6}
UPSCALE_STRENGTH: float = GenerationRequest.model_fields["strength"].default
"""The hires-fix pass's strength, whatever the job upscaled was painted at: a zoom (1.0) or an
img2img job's own strength would repaint the image instead of enlarging it."""


def denoising_steps(steps: int, strength: float) -> int:
    """Steps for an img2img pass that runs at least one: diffusers runs int(steps × strength)
    of them, none for a 2-step image upscaled at strength 0.35, which the engine refuses."""
    return max(steps, math.ceil(1 / strength))


def _fresh(request: GenerationRequest, **update: object) -> GenerationRequest:
    """``request`` with ``update``, checked as a new request (a new id, no variation seed)."""
    data = request.model_dump()
    data.pop("request_id")
    data.update({"subseed": None, "subseed_strength": 0.0})
    data.update(update)
    derived = GenerationRequest.model_validate(data)
    if derived.mode != "txt2img":  # an upscale, or a job derived from one
        steps = denoising_steps(derived.steps, derived.strength)
        derived = derived.model_copy(update={"steps": steps})
    return derived


def check_index(seeds: list[int], index: int) -> None:
    """Refuse an image number the stored job does not have."""
    if not 0 <= index < len(seeds):
        raise InvalidRequest("index", f"this job has no image {index + 1}")


def _one_image(request: GenerationRequest, seeds: list[int], index: int) -> dict[str, object]:
    """The fields that make image ``index`` of a stored job a job of its own: its seed and, for
    a wildcard job, its own prompt (compel and as written; a job's prompt edits are shared by
    its images, since prompting refuses wildcards that differ together with edits)."""
    check_index(seeds, index)
    prompts = request.per_image_prompts
    sources = request.per_image_source_prompts
    return {
        "count": 1,
        "seed": seeds[index],
        "prompt": prompts[index] if prompts and index < len(prompts) else request.prompt,
        "per_image_prompts": None,
        "source_prompt": (
            sources[index] if sources and index < len(sources) else request.source_prompt
        ),
        "per_image_source_prompts": None,
    }


def reroll(request: GenerationRequest) -> GenerationRequest:
    """The same settings with a new seed (drawn by the engine)."""
    return _fresh(request, seed=None)


def variation(
    request: GenerationRequest, seeds: list[int], index: int, strength: float
) -> GenerationRequest:
    """Image ``index`` again with A1111's variation seed at ``strength``."""
    return _fresh(
        request,
        **_one_image(request, seeds, index),
        subseed=random.randint(0, SEED_MAX),
        subseed_strength=strength,
    )


def upscale(
    request: GenerationRequest, seeds: list[int], index: int, png: bytes
) -> GenerationRequest:
    """Image ``index`` (``png``) upscaled by the hires-fix pass; the engine sizes it by the
    family's upscale rule (``generation.sizes.upscale_size``)."""
    return _fresh(
        request,
        **_one_image(request, seeds, index),
        mode="upscale",
        init_image=png,
        init_image_sha256=None,
        mask_image=None,
        strength=UPSCALE_STRENGTH,
    )


def masked_edit(
    request: GenerationRequest,
    seeds: list[int],
    index: int,
    canvas: Canvas,
    built: BuiltPrompt | None = None,
) -> GenerationRequest:
    """Image ``index`` zoomed out, panned or with a region painted again: an inpainting request
    on ``canvas`` (picture and mask) with a new seed; ``built``: an edited positive prompt (vary
    region's modal), else the image's own. The engine paints it with the model's inpainting
    checkpoint when the catalog names one."""
    prompt = prompt_fields(built) if built is not None else {}
    prompt.pop("negative_prompt", None)
    prompt.pop("source_negative", None)
    return _fresh(
        request,
        **(_one_image(request, seeds, index) | prompt | {"seed": None}),
        mode="inpaint",
        init_image=canvas.picture,
        mask_image=canvas.mask,
        strength=STRENGTH,
        width=canvas.width,
        height=canvas.height,
        tile=False,  # a zoomed, panned or repainted picture is no longer a seamless tile
        references=[],  # the picture carries its style now; a ControlNet picture's lines
        control=None,  # would no longer line up with the zoomed or panned canvas
    )


def canvas_request(
    planned: GenerationRequest, canvas: Canvas, strength: float | None
) -> GenerationRequest:
    """``/region`` and the CLI's zoom, pan and region: a request planned on a member's picture,
    as an inpainting request on ``canvas`` (the picture and the mask at the planned size)."""
    return GenerationRequest.model_validate(
        planned.model_dump()
        | {
            "mode": "inpaint",
            "init_image": canvas.picture,
            "init_image_sha256": None,
            "mask_image": canvas.mask,
            "strength": STRENGTH if strength is None else strength,
            "width": canvas.width,
            "height": canvas.height,
            "tile": False,
            "references": [],
            "control": None,
        }
    )


def repaint_variation(
    request: GenerationRequest, seeds: list[int], index: int, png: bytes, strength: float
) -> GenerationRequest:
    """A variation of image ``index`` (``png``) of a job painted from a picture (img2img or an
    upscale), where variation seeds do not apply: that image itself repainted at ``strength``
    with its own seed, as Midjourney's Vary does."""
    return _fresh(
        request,
        **_one_image(request, seeds, index),
        mode="img2img",
        init_image=png,
        init_image_sha256=None,
        mask_image=None,
        strength=strength,
    )


def repaint_full(
    request: GenerationRequest,
    seeds: list[int],
    index: int,
    *,
    model: str,
    steps: int,
    guidance: float,
    scheduler: str,
) -> GenerationRequest:
    """A draft's image ``index`` painted again by the full ``model`` at the same seed and
    prompt, with the full model's own steps, guidance and sampler (the draft's were for its
    few-step entry). Prompt edits (``[a:b:when]``, ``[a|b]``) were placed on the draft's
    steps: they move to the same fraction of the full model's."""
    return _fresh(
        request,
        **_one_image(request, seeds, index),
        model=model,
        steps=steps,
        guidance=guidance,
        scheduler=scheduler,
        prompt_edits=rescaled_edits(request.prompt_edits, request.steps, steps),
    )


def rescaled_edits(edits: list[PromptEdit], old_steps: int, steps: int) -> list[PromptEdit]:
    """``edits`` placed on ``old_steps`` moved to the same fraction of ``steps`` (an edit
    that lands on a step already taken replaces the earlier one; step 0 edits stay at 0)."""
    moved: dict[int, PromptEdit] = {}
    for edit in sorted(edits, key=lambda e: e.from_step):
        step = min(steps - 1, edit.from_step * steps // max(old_steps, 1))
        moved[step] = PromptEdit(from_step=step, prompt=edit.prompt)
    return list(moved.values())


def upscaled_size(family: str, request: GenerationRequest, max_pixels: int) -> tuple[int, int]:
    """What an upscale of one of ``request``'s images produces; ``InvalidRequest`` on
    ``upscale`` when it cannot grow (checked before the job is queued)."""
    return sizes.upscale_size(family, request.width, request.height, max_pixels)


def remix(request: GenerationRequest, built: BuiltPrompt) -> GenerationRequest:
    """The stored settings with an edited positive prompt (``built``) and a new seed; the
    negative stays the stored one."""
    fields = prompt_fields(built)
    del fields["negative_prompt"], fields["source_negative"]
    return _fresh(request, seed=None, **fields)
