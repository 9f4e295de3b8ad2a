"""Loading diffusers pipelines by model name or path, kept in a small LRU.

First cut: the built-in models and local diffusers folders on CPU fp32. The catalog, hub ids,
single-file checkpoints, devices, dtypes and memory options grow here (issue 2).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from generation.config import EngineConfig
from generation.errors import ModelLoadError, ModelNotFound
from generation.tiny import BUILDERS, ensure_tiny_model

Family = Literal["sd1", "sd2", "sdxl"]


@dataclass
class LoadedModel:
    """A loaded text-to-image pipeline and what the engine needs to know about it."""

    name: str
    family: Family
    pipe: Any
    # The model's own StableDiffusionSafetyChecker, detached from the pipeline so that a flagged
    # image is never blacked out by diffusers: the safety policy decides what people see.
    safety_checker: Any | None = None
    feature_extractor: Any | None = None
    _img2img: Any | None = field(default=None, repr=False)

    def img2img(self) -> Any:
        """The image-to-image pipeline on the same weights (``from_pipe``: no second load)."""
        if self._img2img is None:
            from diffusers import AutoPipelineForImage2Image

            self._img2img = AutoPipelineForImage2Image.from_pipe(self.pipe)
        return self._img2img


def detect_family(pipe: Any) -> Family:
    from diffusers import StableDiffusionXLPipeline

    if isinstance(pipe, StableDiffusionXLPipeline):
        return "sdxl"
    prediction = getattr(pipe.scheduler.config, "prediction_type", "epsilon")
    hidden = getattr(pipe.text_encoder.config, "hidden_size", 768)
    return "sd2" if prediction == "v_prediction" or hidden == 1024 else "sd1"


class PipelineLoader:
    """Resolves a model name or path to a loaded pipeline; keeps the last few loaded."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._cache: OrderedDict[str, LoadedModel] = OrderedDict()

    def get(self, model: str) -> LoadedModel:
        if model in self._cache:
            self._cache.move_to_end(model)
            return self._cache[model]
        loaded = self._load(model)
        self._cache[model] = loaded
        while len(self._cache) > self.config.pipeline_cache_size:
            self._cache.popitem(last=False)
        return loaded

    def _load(self, model: str) -> LoadedModel:
        from diffusers import AutoPipelineForText2Image

        if model in BUILDERS:
            folder = ensure_tiny_model(model, self.config.cache_dir)
        elif Path(model).is_dir():
            folder = Path(model)
        else:
            raise ModelNotFound(f"unknown model {model!r}; known: {', '.join(sorted(BUILDERS))}")
        try:
            pipe = AutoPipelineForText2Image.from_pretrained(folder)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(str(folder), str(exc).splitlines()[0]) from exc
        pipe.set_progress_bar_config(disable=True)
        checker = getattr(pipe, "safety_checker", None)
        extractor = getattr(pipe, "feature_extractor", None)
        if checker is not None:
            pipe.safety_checker = None
        return LoadedModel(
            name=model,
            family=detect_family(pipe),
            pipe=pipe,
            safety_checker=checker,
            feature_extractor=extractor,
        )
