"""Image guides at run time: style/character references (IP-Adapter) and ControlNet.

References: the model's catalog IP-Adapter is loaded into the pipeline with diffusers'
``load_ip_adapter`` (one weight file per reference kind the batch uses, both sharing the CLIP image
encoder), weighted with ``set_ip_adapter_scale``: a style reference on InstantStyle's blocks only
(``style_blocks`` × weight, every other block 0), a character reference on every block. The
reference pictures are encoded once per batch on the base pipeline
(``prepare_ip_adapter_image_embeds``) and handed to whichever pipeline runs (text-to-image,
image-to-image, ControlNet) as ``ip_adapter_image_embeds``: they share the UNet the adapter lives
in. It stays loaded while batches with references follow each other; the first batch without one
unloads it (``unload_ip_adapter`` restores the UNet's own attention processors), so a plain image
is pixel-equal to one made before any reference (tested), and weight 0 equals the plain call.

ControlNet: the model's catalog ControlNet for the preprocessor is loaded with
``ControlNetModel.from_pretrained`` (the last few kept), and the batch runs on a ControlNet twin of
the pipeline made with ``from_pipe`` (no second copy of the weights): ``StableDiffusion(XL)
ControlNetPipeline``, or the ``…ControlNetImg2ImgPipeline`` for img2img and upscale. The
condition is computed on the CPU (``generation.control_images``) at the output size. Scale 0 adds
exact zeros to the UNet's residuals, so it equals the plain call (tested).
"""

from __future__ import annotations

import io
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generation.catalog import Catalog
from generation.control_images import control_picture
from generation.errors import InvalidRequest
from generation.families import traits
from generation.guide_specs import ControlNetSpec, IpAdapterSpec
from generation.loading import LoadedModel
from generation.requests import ControlImage, GenerationRequest, ReferenceImage

_LOADED = "_muralist_ip_adapter"  # the pipeline attribute naming what is loaded in its UNet


@dataclass
class BatchGuides:
    """A batch's references and ControlNet, resolved against the catalog (all images share
    them: they are part of ``GenerationRequest.batch_key``)."""

    references: list[ReferenceImage] = field(default_factory=list)  # style first
    ip_adapter: IpAdapterSpec | None = None
    control: ControlImage | None = None
    controlnet: ControlNetSpec | None = None

    def parameters(self) -> dict[str, str | None]:
        """A1111-style ``parameters`` entries naming each guide, its weight and picture."""
        entries: dict[str, str | None] = {}
        for reference in self.references:
            assert self.ip_adapter is not None
            entries[f"IP-Adapter {reference.kind}"] = (
                f"Model: {self.ip_adapter.name}, Weight: {reference.weight:g}, "
                f"Image hash: {reference.sha256[:12]}"
            )
        if self.control is not None and self.controlnet is not None:
            entries["ControlNet 0"] = (
                f"Module: {self.control.mode}, Model: {self.controlnet.name}, "
                f"Weight: {self.control.scale:g}, Image hash: {self.control.sha256[:12]}"
            )
        return entries


def resolve_guides(catalog: Catalog, model: LoadedModel, request: GenerationRequest) -> BatchGuides:
    """The catalog's IP-Adapter and ControlNet for ``request``'s guides on ``model``;
    ``InvalidRequest`` naming ``sref``/``cref``/``control_mode`` when the family has none."""
    spec = model.spec if model.spec is not None else catalog.resolve(model.name)
    if spec.family != model.family:
        spec = spec.with_family(model.family)
    guides = BatchGuides()
    if request.mode == "inpaint" and (request.references or request.control is not None):
        raise InvalidRequest(
            "control" if request.control is not None else "sref",
            "masked edits (zoom out, pan, vary region) paint from the picture itself and take "
            "no references or ControlNet picture",
        )
    for reference in request.references:
        if reference.png is None:
            _missing("sref" if reference.kind == "style" else "cref", reference.sha256)
    if request.control is not None and request.control.png is None:
        _missing("control", request.control.sha256)
    if request.references:
        guides.references = sorted(request.references, key=lambda r: r.kind != "style")
        guides.ip_adapter = catalog.ip_adapter_for(spec, guides.references[0].kind)
    if request.control is not None:
        if traits(model.family).flow:
            raise InvalidRequest(
                "control",
                f"{traits(model.family).label} models take no ControlNet here; use an SD 1.x, "
                "SD 2.x or SDXL model",
            )
        guides.control = request.control
        guides.controlnet = catalog.controlnet_for(spec, request.control.mode)
    return guides


def _missing(field_name: str, digest: str) -> None:
    raise InvalidRequest(
        field_name,
        f"the picture {digest[:12]}… is no longer stored (removed after the retention); "
        "attach it again",
    )


class GuideRuntime:
    """Loads IP-Adapters and ControlNets into pipelines on use; see the module docstring."""

    def __init__(self, cache_dir: Path, max_controlnets: int = 4) -> None:
        self.cache_dir = Path(cache_dir)
        self.max_controlnets = max_controlnets
        self.ip_loads = 0  # load_ip_adapter calls (tests and the note)
        # pipe → {(controlnet name, img2img): ControlNet twin}, the last few
        self._twins: weakref.WeakKeyDictionary[Any, OrderedDict[tuple[str, bool], Any]] = (
            weakref.WeakKeyDictionary()
        )

    # -- references ----------------------------------------------------------------------------
    @contextmanager
    def references(self, model: LoadedModel, guides: BatchGuides) -> Iterator[None]:
        """The batch's IP-Adapter loaded and weighted for the block; none: unloaded."""
        pipe = model.pipe
        if guides.ip_adapter is None:
            if getattr(pipe, _LOADED, None) is not None:
                pipe.unload_ip_adapter()
                setattr(pipe, _LOADED, None)
            yield
            return
        spec = guides.ip_adapter
        kinds = tuple(reference.kind for reference in guides.references)
        loaded = getattr(pipe, _LOADED, None)
        if loaded != (spec.name, kinds):
            if loaded is not None and loaded[0] != spec.name:
                pipe.unload_ip_adapter()
            setattr(pipe, _LOADED, None)
            self._load_ip_adapter(pipe, spec, kinds)
            setattr(pipe, _LOADED, (spec.name, kinds))
        pipe.set_ip_adapter_scale([self._scale(spec, r) for r in guides.references])
        yield

    def _load_ip_adapter(self, pipe: Any, spec: IpAdapterSpec, kinds: tuple[str, ...]) -> None:
        files = [spec.style if kind == "style" else spec.character for kind in kinds]
        try:
            pipe.load_ip_adapter(
                spec.location(self.cache_dir),
                subfolder=spec.subfolder,
                weight_name=files,
                image_encoder_folder=spec.image_encoder,
                local_files_only=spec.hub is None,
            )
        except Exception as exc:  # diffusers, hub and file errors alike
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            field_name = "sref" if kinds[0] == "style" else "cref"
            raise InvalidRequest(
                field_name, f"cannot load IP-Adapter {spec.name!r}: {reason}"
            ) from exc
        self.ip_loads += 1

    @staticmethod
    def _scale(spec: IpAdapterSpec, reference: ReferenceImage) -> float | dict[str, Any]:
        if reference.kind == "character":
            return reference.weight
        return {
            part: {
                block: [v * reference.weight for v in values] for block, values in blocks.items()
            }
            for part, blocks in spec.style_blocks.items()
        }

    def reference_embeds(self, model: LoadedModel, guides: BatchGuides, guided: bool) -> list[Any]:
        """Each reference's image embeddings for one image ([negative; positive] when
        ``guided``); the pipeline repeats them for every image of the batch."""
        import torch
        from PIL import Image

        pictures = []
        for reference in guides.references:
            with Image.open(io.BytesIO(reference.png or b"")) as opened:
                pictures.append(opened.convert("RGB"))
        pipe = model.pipe
        with torch.no_grad():
            return list(
                pipe.prepare_ip_adapter_image_embeds(
                    pictures, None, pipe._execution_device, 1, guided
                )
            )

    # -- ControlNet ----------------------------------------------------------------------------
    def pipeline(self, model: LoadedModel, guides: BatchGuides, mode: str) -> Any:
        """The pipeline a batch runs on: the model's own for ``mode`` (``LoadedModel.for_mode``),
        or a ControlNet twin (text-to-image, or image-to-image for img2img and upscale)."""
        img2img = mode != "txt2img"
        if guides.controlnet is None:
            return model.for_mode(mode)
        twins = self._twins.setdefault(model.pipe, OrderedDict())
        key = (guides.controlnet.name, img2img)
        twin = twins.get(key)
        if twin is None:
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image

            controlnet = self._controlnet(model, guides.controlnet)
            auto = AutoPipelineForImage2Image if img2img else AutoPipelineForText2Image
            twin = auto.from_pipe(model.pipe, controlnet=controlnet)
            twin.set_progress_bar_config(disable=True)
            twins[key] = twin
            while len(twins) > self.max_controlnets:
                twins.popitem(last=False)
        twins.move_to_end(key)
        return twin

    def _controlnet(self, model: LoadedModel, spec: ControlNetSpec) -> Any:
        from diffusers import ControlNetModel

        try:
            controlnet = ControlNetModel.from_pretrained(
                spec.location(self.cache_dir), dtype=model.dtype, local_files_only=spec.hub is None
            )
        except Exception as exc:  # diffusers, hub and file errors alike
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InvalidRequest(
                "control", f"cannot load ControlNet {spec.name!r}: {reason}"
            ) from exc
        return controlnet.to(model.device)

    @staticmethod
    def control_kwargs(guides: BatchGuides, width: int, height: int, img2img: bool) -> dict:
        """The ControlNet pipeline's condition arguments for the batch (none without one)."""
        control = guides.control
        if control is None:
            return {}
        picture = control_picture(control.png or b"", control.mode, width, height)
        return {
            "control_image" if img2img else "image": picture,
            "controlnet_conditioning_scale": control.scale,
        }
