"""Loading diffusers pipelines by catalog name or path, placed and tuned, kept in a small LRU.

Sources (see ``generation.catalog``): the built-in tiny models (built into ``cache_dir`` and then
loaded like any folder), local diffusers folders and hub ids through
``AutoPipelineForText2Image.from_pretrained`` (SD 1.x/2.x, SDXL, FLUX.1 and SD 3.5 alike), and
single-file A1111/CompVis checkpoints through ``from_single_file``. Every failure becomes
``ModelNotFound`` (nothing there) or ``ModelLoadError`` (something there that does not load),
naming the model; never a traceback.

Catalog entries with the same weights (SDXL and its Lightning or LCM drafts, which differ only in
LoRAs and sampling defaults) share one loaded pipeline: the cache holds pipelines by source, and
each name gets a view of it with its own catalog entry. The LRU's size counts pipelines.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generation import quantization
from generation.builtins import ensure_builtin
from generation.catalog import Catalog, Family, ModelSpec
from generation.config import EngineConfig
from generation.devices import Placement, configure_backends, place_pipeline, resolve_placement
from generation.errors import GenerationError, ModelLoadError, ModelNotFound
from generation.families import traits

logger = logging.getLogger(__name__)

__all__ = ["Family", "LoadedModel", "PipelineLoader", "detect_family"]


@dataclass
class LoadedModel:
    """A loaded text-to-image pipeline and what the engine needs to know about it."""

    name: str
    family: Family
    pipe: Any
    # The model's own StableDiffusionSafetyChecker, detached from the pipeline so that a flagged
    # image is never blacked out by diffusers: the safety policy decides what people see. It sits
    # on the pipeline's device and dtype, or on the CPU in fp32 when the pipeline is offloaded.
    safety_checker: Any | None = None
    feature_extractor: Any | None = None
    spec: ModelSpec | None = None  # the catalog entry (native size, default negative, scheduler)
    device: str = "cpu"  # where the denoising runs (the offload target when offloading)
    dtype: Any = None  # the weights' torch dtype
    options: list[str] = field(default_factory=list)  # the memory/speed options applied
    # With compile_unet in "warmup" mode: the (images, height, width, guided) shapes whose
    # compiled graph was built at start-up; other shapes run the eager UNet (no compile stall).
    # Shared by the catalog names that share the pipeline.
    warm_shapes: set[tuple[int, int, int, bool]] = field(default_factory=set)

    @property
    def denoiser_name(self) -> str:
        """``unet`` (SD 1.x/2.x/SDXL) or ``transformer`` (FLUX.1, SD 3.5)."""
        return "unet" if getattr(self.pipe, "unet", None) is not None else "transformer"

    @property
    def eager_unet(self) -> Any:
        """The UNet/transformer without torch.compile's wrapper (itself when not compiled)."""
        denoiser = getattr(self.pipe, self.denoiser_name)
        return getattr(denoiser, "_orig_mod", denoiser)

    def img2img(self) -> Any:
        """The image-to-image pipeline on the same weights (``from_pipe``: no second load)."""
        found = _IMG2IMG.get(self.pipe)
        if found is None:
            from diffusers import AutoPipelineForImage2Image

            found = AutoPipelineForImage2Image.from_pipe(self.pipe)
            _IMG2IMG[self.pipe] = found
        return found

    def inpaint(self) -> Any:
        """The inpainting pipeline: a dedicated inpainting checkpoint's own (it was loaded as
        one), else one on the same weights (``from_pipe``), which keeps the unmasked latents
        from the picture at every step."""
        if self.spec is not None and self.spec.inpainting:
            return self.pipe
        found = _INPAINT.get(self.pipe)
        if found is None:
            from diffusers import AutoPipelineForInpainting

            found = AutoPipelineForInpainting.from_pipe(self.pipe)
            _INPAINT[self.pipe] = found
        return found

    def for_mode(self, mode: str) -> Any:
        """The pipeline a request's ``mode`` runs on (the one place that chooses)."""
        if mode == "inpaint":
            return self.inpaint()
        return self.pipe if mode == "txt2img" else self.img2img()


# pipe → its image-to-image and inpainting twins, shared by every catalog name loaded on that pipe
_IMG2IMG: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_INPAINT: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def detect_family(pipe: Any) -> Family:
    """The family of a loaded pipeline: SDXL, FLUX.1 and SD 3.5 by class, SD 2.x by its
    OpenCLIP-H text encoder."""
    from diffusers import (
        FluxInpaintPipeline,
        FluxPipeline,
        StableDiffusion3InpaintPipeline,
        StableDiffusion3Pipeline,
        StableDiffusionXLInpaintPipeline,
        StableDiffusionXLPipeline,
    )

    if isinstance(pipe, StableDiffusionXLPipeline | StableDiffusionXLInpaintPipeline):
        return "sdxl"
    if isinstance(pipe, FluxPipeline | FluxInpaintPipeline):
        return "flux"
    if isinstance(pipe, StableDiffusion3Pipeline | StableDiffusion3InpaintPipeline):
        return "sd3"
    prediction = getattr(pipe.scheduler.config, "prediction_type", "epsilon")
    hidden = getattr(pipe.text_encoder.config, "hidden_size", 768)
    return "sd2" if prediction == "v_prediction" or hidden == 1024 else "sd1"


class PipelineLoader:
    """Resolves a model name or path to a loaded pipeline; keeps the last few loaded.

    ``catalog`` and ``placement`` default to the config's (tests pass their own).
    """

    def __init__(
        self,
        config: EngineConfig,
        catalog: Catalog | None = None,
        placement: Placement | None = None,
    ) -> None:
        self.config = config
        self.catalog = catalog if catalog is not None else Catalog.load(config.models_file)
        self._placement = placement
        self._cache: OrderedDict[tuple[object, ...], LoadedModel] = OrderedDict()  # by source
        self._views: dict[str, LoadedModel] = {}  # by name, on a pipeline of ``_cache``
        self._lock = threading.Lock()  # one load at a time, even from several worker threads

    @property
    def placement(self) -> Placement:
        """Resolved on first use (it imports torch) and then fixed for this loader."""
        if self._placement is None:
            self._placement = resolve_placement(self.config.device, self.config.dtype)
        return self._placement

    def get(self, model: str) -> LoadedModel:
        with self._lock:
            view = self._views.get(model)
            if view is not None:
                self._cache.move_to_end(_source_key(view.spec or self.catalog.resolve(model)))
                return view
            spec = self.catalog.resolve(model)
            key = _source_key(spec)
            loaded = self._cache.get(key)
            if loaded is None:
                loaded = self._load(spec)
                self._cache[key] = loaded
                collected = False
                while len(self._cache) > self.config.pipeline_cache_size:
                    self._evict_oldest()  # collects, after the load
                    collected = True
                if self.config.gc_freeze:
                    _freeze_heap(collect=not collected)
            self._cache.move_to_end(key)
            view = self._view(loaded, spec)
            self._views[model] = view
            return view

    def is_loaded(self, model: str) -> bool:
        """Whether catalog name ``model`` has its pipeline in memory now (no load)."""
        with self._lock:
            return model in self._views

    @staticmethod
    def _view(loaded: LoadedModel, spec: ModelSpec) -> LoadedModel:
        """``loaded``'s pipeline under catalog entry ``spec`` (the family is the loaded one)."""
        if loaded.spec is not None and loaded.spec.name == spec.name:
            return loaded
        if spec.family != loaded.family:
            spec = spec.with_family(loaded.family)
        return dataclasses.replace(loaded, name=spec.name, spec=spec)

    def _load(self, spec: ModelSpec) -> LoadedModel:
        placement = self.placement
        quantization.check_backend(self.config.quantize, placement)
        configure_backends(
            placement, cudnn_benchmark=self.config.cudnn_benchmark, tf32=self.config.tf32
        )
        with _quiet_loading():
            pipe = self._from_source(spec, placement)
        pipe.set_progress_bar_config(disable=True)
        family = detect_family(pipe)
        if family != spec.family:
            logger.warning(
                "model %s is listed as %s but loaded as %s; using %s",
                spec.name,
                spec.family,
                family,
                family,
            )
            spec = spec.with_family(family)
        checker = getattr(pipe, "safety_checker", None)
        extractor = getattr(pipe, "feature_extractor", None)
        if checker is not None:
            pipe.safety_checker = None
        try:
            options = place_pipeline(pipe, self.config, placement)
            if checker is not None:
                _place_checker(
                    checker, placement, offloaded=any(o.endswith("cpu_offload") for o in options)
                )
        except (RuntimeError, ValueError, ImportError) as exc:  # e.g. CUDA out of memory
            raise ModelLoadError(
                spec.name, f"cannot place it on {placement.device}: {exc}"
            ) from exc
        if getattr(pipe, "_muralist_quantized", None):
            options.insert(0, f"quantize_{self.config.quantize}")

        logger.info(
            "loaded %s (%s) on %s %s%s",
            spec.name,
            family,
            placement.device,
            placement.dtype,
            f" with {', '.join(options)}" if options else "",
        )
        return LoadedModel(
            name=spec.name,
            family=family,
            pipe=pipe,
            safety_checker=checker,
            feature_extractor=extractor,
            spec=spec,
            device=placement.device,
            dtype=placement.torch_dtype,
            options=options,
        )

    def _from_source(self, spec: ModelSpec, placement: Placement) -> Any:
        """Load the pipeline's weights from the spec's source; errors name the model."""
        from diffusers import AutoPipelineForInpainting, AutoPipelineForText2Image

        dtype = placement.torch_dtype
        extra = self._family_options(spec, dtype)
        auto = AutoPipelineForInpainting if spec.inpainting else AutoPipelineForText2Image
        try:
            if spec.builtin is not None:
                folder = ensure_builtin(spec.builtin, self.config.cache_dir)
                pipe = auto.from_pretrained(folder, dtype=dtype, local_files_only=True, **extra)
            elif spec.folder is not None:
                _require(spec, spec.folder, "folder")
                pipe = auto.from_pretrained(
                    spec.folder, dtype=dtype, local_files_only=True, **extra
                )
            elif spec.checkpoint is not None:
                return self._from_checkpoint(spec, spec.checkpoint, dtype)
            else:
                pipe = auto.from_pretrained(spec.hub, dtype=dtype, **extra)
            pipe._muralist_quantized = "quantization_config" in extra
            return pipe
        except GenerationError:
            raise
        except Exception as exc:  # diffusers, hub, safetensors and torch errors alike
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if spec.hub is not None and _hub_offline():
                reason = f"{spec.hub} is not in the local hub cache and HF_HUB_OFFLINE is set"
            elif spec.hub is not None:
                reason += (
                    f" (downloading {spec.hub} needs access to huggingface.co, and HF_TOKEN for "
                    "gated models; or download it once and point a `folder` entry at it)"
                )
            elif spec.checkpoint is not None and spec.config is None:
                reason += (
                    " (without a `config` folder a checkpoint's configs come from the hub; add a "
                    "catalog entry with config = a local diffusers folder of the same family)"
                )
            raise ModelLoadError(spec.name, reason) from exc

    def _family_options(self, spec: ModelSpec, dtype: Any) -> dict[str, Any]:
        """``from_pretrained`` options of FLUX.1 and SD 3.5: quantization, SD 3.5 without T5."""
        extra: dict[str, Any] = {}
        if spec.family == "sd3" and not spec.t5:
            extra |= {"text_encoder_3": None, "tokenizer_3": None}
        components = quantization.quantized_components(spec.family, t5=spec.t5)
        config = quantization.pipeline_config(self.config.quantize, components, dtype)
        if config is not None:
            extra["quantization_config"] = config
        return extra

    @staticmethod
    def _from_checkpoint(spec: ModelSpec, checkpoint: Path, dtype: Any) -> Any:
        """``from_single_file``: offline with a local ``config`` folder, else it asks the hub.

        SD 1.x and 2.x checkpoints load as ``StableDiffusionPipeline``, SDXL ones as
        ``StableDiffusionXLPipeline`` (their ``Inpaint`` pipelines for inpainting entries).
        """
        from diffusers import (
            StableDiffusionInpaintPipeline,
            StableDiffusionPipeline,
            StableDiffusionXLInpaintPipeline,
            StableDiffusionXLPipeline,
        )

        _require(spec, checkpoint, "checkpoint")
        if traits(spec.family).flow:
            raise ModelLoadError(
                spec.name,
                f"single-file {spec.family} checkpoints are not supported; use the diffusers "
                "folder or hub repository of the model (a `folder` or `hub` catalog entry)",
            )
        if spec.inpainting:
            xl, sd = StableDiffusionXLInpaintPipeline, StableDiffusionInpaintPipeline
        else:
            xl, sd = StableDiffusionXLPipeline, StableDiffusionPipeline
        cls: Any = xl if spec.family == "sdxl" else sd
        if spec.config is None:
            return cls.from_single_file(str(checkpoint), dtype=dtype)
        _require(spec, spec.config, "config")
        return cls.from_single_file(
            str(checkpoint), config=str(spec.config), dtype=dtype, local_files_only=True
        )

    def _evict_oldest(self) -> None:
        """Drop the least recent pipeline's memory now rather than whenever the GC gets to it.

        The popped model is referenced from this frame only, so ``del`` leaves nothing holding
        it when ``gc.collect`` and ``empty_cache`` run (a caller's variable would keep it alive).
        """
        _, evicted = self._cache.popitem(last=False)
        for name in [n for n, view in self._views.items() if view.pipe is evicted.pipe]:
            del self._views[name]
        logger.info("unloading %s", evicted.name)
        del evicted
        if self.config.gc_freeze:
            gc.unfreeze()  # its objects were frozen with the rest: let the collector see them
        gc.collect()
        if self.placement.is_cuda:
            import torch

            torch.cuda.empty_cache()


def _freeze_heap(*, collect: bool) -> None:
    """Collect once (unless that just happened), then move every object now alive out of the
    collector's sight.

    A loaded pipeline (torch, diffusers, transformers and the model's modules) puts some 500k
    tracked objects in the heap; each full collection walks them all, about 0.4 s during which
    the process, event loop included, stands still. Frozen, they are skipped: a full collection
    then walks only what is younger (the queue's jobs, the bot's caches). The collection before
    costs that pause once, here at load time; an eviction unfreezes, collects and freezes again.
    """
    if collect:
        gc.collect()
    gc.freeze()


@contextmanager
def _quiet_loading() -> Iterator[None]:
    """No diffusers/transformers loading bars: they would fill the bot's log and CLI's stderr."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    shown = (
        diffusers_logging.is_progress_bar_enabled(),
        transformers_logging.is_progress_bar_enabled(),
    )
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown[0]:
            diffusers_logging.enable_progress_bar()
        if shown[1]:
            transformers_logging.enable_progress_bar()


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _place_checker(checker: Any, placement: Placement, *, offloaded: bool) -> None:
    """Beside the pipeline; on the CPU in fp32 when offloading (it is there to save GPU memory)."""
    import torch

    if offloaded:
        checker.to("cpu", torch.float32)
    else:
        checker.to(placement.device)


def _require(spec: ModelSpec, path: Path, what: str) -> None:
    if not path.exists():
        raise ModelNotFound(f"model {spec.name!r}: its {what} {path} does not exist")


def _source_key(spec: ModelSpec) -> tuple[object, ...]:
    """What identifies a pipeline's weights: entries with equal keys share one loaded pipeline."""
    return (spec.source, str(getattr(spec, spec.source)), str(spec.config), spec.t5)
