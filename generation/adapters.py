"""LoRAs per job and textual-inversion embeddings per model, loaded through diffusers.

LoRAs: a job's set is the model entry's own (a draft's LCM or Lightning LoRA) plus the ones the
member asked for. Each file is loaded once per pipeline with ``load_lora_weights`` under an adapter
name of its own and kept (the last ``max_loaded``), then every job picks its set and weights with
``set_adapters``. When the job ends, ``disable_lora`` turns every adapter off, so the next job
runs on the plain weights: peft's layers then call the original layer alone, which is why a plain
image is pixel-equal before and after a LoRA job (tested). Nothing is ever fused into the
weights. Jobs with different sets never share a batch (``GenerationRequest.batch_key``).

Embeddings: a catalog embedding of the model's family is loaded the first time a prompt uses its
token (``load_textual_inversion``, both CLIP encoders for SDXL), before that prompt is encoded,
and stays. It adds tokens only, so a prompt without the token encodes exactly as before; compel's
textual-inversion manager expands a multi-vector token so that weighting it, ``(<token>:1.3)``,
weighs all of its vectors. Pipelines nobody asked for an embedding keep their vocabulary as
shipped (a merge or a checkpoint written from them is the model's own).
"""

from __future__ import annotations

import hashlib
import logging
import re
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generation.catalog import Catalog, EmbeddingSpec, LoraSpec, ModelSpec
from generation.errors import InvalidRequest
from generation.requests import AdapterUse

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActiveLora:
    spec: LoraSpec
    weight: float

    @property
    def adapter(self) -> str:
        return adapter_name(self.spec.name)


def adapter_name(name: str) -> str:
    """A peft adapter name for catalog name ``name`` (peft keys may hold no ``.`` or ``-``)."""
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:6]
    return f"{re.sub(r'[^0-9A-Za-z_]', '_', name)}_{digest}"


def job_loras(
    catalog: Catalog, family: str, spec: ModelSpec | None, asked: Sequence[AdapterUse]
) -> list[ActiveLora]:
    """The model entry's LoRAs, then the request's (a request naming the same LoRA sets its
    weight); each must be in the catalog and made for the model's family."""
    weights: dict[str, float] = {}
    for use in [*(spec.loras if spec is not None else ()), *asked]:
        catalog.lora(use.name, family)
        weights[use.name] = use.weight
    return [ActiveLora(catalog.lora(name), weight) for name, weight in weights.items()]


class LoraSwitch:
    """Loads LoRA files into pipelines on first use and switches them on per job."""

    def __init__(self, cache_dir: Path, max_loaded: int = 8) -> None:
        self.cache_dir = Path(cache_dir)
        self.max_loaded = max_loaded
        self.loads = 0  # files actually loaded (for tests and the benchmark)
        self._loaded: weakref.WeakKeyDictionary[Any, OrderedDict[str, None]] = (
            weakref.WeakKeyDictionary()
        )

    @contextmanager
    def applied(self, pipe: Any, loras: Sequence[ActiveLora]) -> Iterator[None]:
        """``loras`` on for the block (none: the plain weights), all off afterwards."""
        if not loras:
            yield
            return
        for lora in loras:
            self._ensure(pipe, lora.spec)
        try:
            pipe.enable_lora()
            pipe.set_adapters([lora.adapter for lora in loras], [lora.weight for lora in loras])
            yield
        finally:
            pipe.disable_lora()

    def _ensure(self, pipe: Any, spec: LoraSpec) -> None:
        loaded = self._loaded.setdefault(pipe, OrderedDict())
        name = adapter_name(spec.name)
        if name not in loaded and name in _adapters_of(pipe):  # loaded by another engine
            loaded[name] = None
        if name in loaded:
            loaded.move_to_end(name)
            return
        source, weight_name = spec.location(self.cache_dir)
        if spec.builtin is not None:
            from generation.builtins import ensure_adapter

            ensure_adapter(spec.builtin, self.cache_dir)
        try:
            pipe.load_lora_weights(source, weight_name=weight_name, adapter_name=name)
        except Exception as exc:  # diffusers, peft, hub and file errors alike
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InvalidRequest("lora", f"cannot load LoRA {spec.name!r}: {reason}") from exc
        self.loads += 1
        loaded[name] = None
        while len(loaded) > self.max_loaded:
            oldest, _ = loaded.popitem(last=False)
            pipe.delete_adapters(oldest)
        pipe.disable_lora()


def _adapters_of(pipe: Any) -> set[str]:
    """The adapter names loaded in any component of ``pipe``."""
    return {name for names in pipe.get_list_adapters().values() for name in names}


class EmbeddingLoader:
    """Loads an embedding into a pipeline the first time one of its prompts uses the token."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = Path(cache_dir)
        self._loaded: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()

    def ensure(self, pipe: Any, embeddings: Sequence[EmbeddingSpec], texts: Sequence[str]) -> None:
        """Load each of ``embeddings`` whose token one of ``texts`` uses, unless it is loaded.

        One that cannot be loaded is logged and skipped: its token is then read as words.
        """
        loaded = self._loaded.setdefault(pipe, set())
        for spec in embeddings:
            if spec.name in loaded or not any(spec.token in text for text in texts):
                continue
            if spec.token in pipe.tokenizer.get_vocab():  # loaded by another engine
                loaded.add(spec.name)
                continue
            loaded.add(spec.name)
            try:
                _load_embedding(pipe, spec, self.cache_dir)
            except Exception as exc:  # a broken file must not take the model down
                logger.error("embedding %s not loaded: %s", spec.name, exc)


def _load_embedding(pipe: Any, spec: EmbeddingSpec, cache_dir: Path) -> None:
    from safetensors.torch import load_file

    if spec.builtin is not None:
        from generation.builtins import ensure_adapter

        path = str(ensure_adapter(spec.builtin, cache_dir))
    elif spec.hub is not None:
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(spec.hub, spec.weight_name or "learned_embeds.safetensors")
    else:
        path = str(spec.file)
    if getattr(pipe, "text_encoder_2", None) is None:
        pipe.load_textual_inversion(path, token=spec.token)
        return
    state = load_file(path)  # SDXL: one tensor per CLIP encoder
    pipe.load_textual_inversion(
        state["clip_l"], token=spec.token, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer
    )
    pipe.load_textual_inversion(
        state["clip_g"],
        token=spec.token,
        text_encoder=pipe.text_encoder_2,
        tokenizer=pipe.tokenizer_2,
    )
