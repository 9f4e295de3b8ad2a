"""Loading diffusers pipelines by catalog name or path, placed and tuned, kept in a small LRU.

Sources (see ``generation.catalog``): the built-in tiny models (built into ``cache_dir`` and then
loaded like any folder), local diffusers folders and hub ids through
``AutoPipelineForText2Image.from_pretrained``, and single-file A1111/CompVis checkpoints through
``from_single_file``. Every failure becomes ``ModelNotFound`` (nothing there) or
``ModelLoadError`` (something there that does not load), naming the model; never a traceback.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generation.catalog import Catalog, Family, ModelSpec
from generation.config import EngineConfig
from generation.devices import Placement, configure_backends, place_pipeline, resolve_placement
from generation.errors import GenerationError, ModelLoadError, ModelNotFound
from generation.tiny import ensure_tiny_model

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
    warm_shapes: set[tuple[int, int, int, bool]] = field(default_factory=set)
    _img2img: Any | None = field(default=None, repr=False)

    @property
    def eager_unet(self) -> Any:
        """The UNet without torch.compile's wrapper (itself when it is not compiled)."""
        return getattr(self.pipe.unet, "_orig_mod", self.pipe.unet)

    def img2img(self) -> Any:
        """The image-to-image pipeline on the same weights (``from_pipe``: no second load)."""
        if self._img2img is None:
            from diffusers import AutoPipelineForImage2Image

            self._img2img = AutoPipelineForImage2Image.from_pipe(self.pipe)
        return self._img2img


def detect_family(pipe: Any) -> Family:
    """The family of a loaded pipeline: SDXL by class, SD 2.x by its OpenCLIP-H text encoder."""
    from diffusers import StableDiffusionXLPipeline

    if isinstance(pipe, StableDiffusionXLPipeline):
        return "sdxl"
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
        self._cache: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()  # one load at a time, even from several worker threads

    @property
    def placement(self) -> Placement:
        """Resolved on first use (it imports torch) and then fixed for this loader."""
        if self._placement is None:
            self._placement = resolve_placement(self.config.device, self.config.dtype)
        return self._placement

    def get(self, model: str) -> LoadedModel:
        with self._lock:
            if model in self._cache:
                self._cache.move_to_end(model)
                return self._cache[model]
            loaded = self._load(self.catalog.resolve(model))
            self._cache[model] = loaded
            collected = False
            while len(self._cache) > self.config.pipeline_cache_size:
                self._evict_oldest()  # collects, after the load
                collected = True
            if self.config.gc_freeze:
                _freeze_heap(collect=not collected)
            return loaded

    def _load(self, spec: ModelSpec) -> LoadedModel:
        placement = self.placement
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
        from diffusers import AutoPipelineForText2Image

        dtype = placement.torch_dtype
        try:
            if spec.builtin is not None:
                folder = ensure_tiny_model(spec.builtin, self.config.cache_dir)
                return AutoPipelineForText2Image.from_pretrained(
                    folder, dtype=dtype, local_files_only=True
                )
            if spec.folder is not None:
                _require(spec, spec.folder, "folder")
                return AutoPipelineForText2Image.from_pretrained(
                    spec.folder, dtype=dtype, local_files_only=True
                )
            if spec.checkpoint is not None:
                return self._from_checkpoint(spec, spec.checkpoint, dtype)
            return AutoPipelineForText2Image.from_pretrained(spec.hub, dtype=dtype)
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

    @staticmethod
    def _from_checkpoint(spec: ModelSpec, checkpoint: Path, dtype: Any) -> Any:
        """``from_single_file``: offline with a local ``config`` folder, else it asks the hub.

        SD 1.x and 2.x checkpoints load as ``StableDiffusionPipeline``, SDXL ones as
        ``StableDiffusionXLPipeline``.
        """
        from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

        _require(spec, checkpoint, "checkpoint")
        cls = StableDiffusionXLPipeline if spec.family == "sdxl" else StableDiffusionPipeline
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
        name, evicted = self._cache.popitem(last=False)
        logger.info("unloading %s", name)
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
