"""Each model's own CLIP tokenizer, read from its tokenizer files without loading any weights.

Token counts ("77 tokens in 2 chunks", the words a truncating model would drop) are only true
when counted with the tokenizer the model uses. The planner runs in the bot's process, which may
not load the model at all when Redis workers paint, so the tokenizer is read from the same files
the pipeline reads its own from: a built-in model's (written from the CLIP vocabulary, as
``generation.tiny`` writes them), a diffusers folder's ``tokenizer/``, a checkpoint's ``config``
folder, or a hub model's snapshot when it is already on this host. Where none is at hand (a hub
model never downloaded here) the caller falls back to prompting's estimate, marked as such.

transformers is imported on first use only (about a second), so ``import generation`` stays light.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from generation.catalog import ModelSpec, hub_snapshot
from generation.tiny import tiny_model_folder, write_clip_tokenizer

log = logging.getLogger(__name__)

_SD2_BUILTINS = {"tiny-sd2"}  # written with OpenCLIP's "!" padding, as its builder does


class TokenizerShelf:
    """Tokenizers by model name, loaded once each; ``for_model`` is thread-safe."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = Path(cache_dir)
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()

    def for_model(self, spec: ModelSpec) -> Any | None:
        """The model's tokenizer (``tokenize(text)`` gives its tokens), or None when its files
        are not on this host."""
        with self._lock:
            if spec.name not in self._loaded:
                self._loaded[spec.name] = self._load(spec)
            return self._loaded[spec.name]

    def _load(self, spec: ModelSpec) -> Any | None:
        folder = self._folder(spec)
        if folder is None:
            return None
        from transformers import CLIPTokenizer

        try:
            return CLIPTokenizer.from_pretrained(str(folder))
        except (OSError, ValueError) as exc:  # unreadable files: count by estimate instead
            log.warning("no tokenizer for %s from %s: %s", spec.name, folder, exc)
            return None

    def _folder(self, spec: ModelSpec) -> Path | None:
        if spec.builtin is not None:
            built = tiny_model_folder(spec.builtin, self.cache_dir) / "tokenizer"
            if (built / "vocab.json").is_file():
                return built
            files = self.cache_dir / "tokenizers" / spec.builtin
            if not (files / "vocab.json").is_file():
                pad = "!" if spec.builtin in _SD2_BUILTINS else "<|endoftext|>"
                write_clip_tokenizer(files, pad)
            return files
        if spec.folder is not None:
            root: Path | None = spec.folder
        elif spec.checkpoint is not None:
            root = spec.config
        else:
            snapshot = hub_snapshot(spec.hub or "")
            root = Path(snapshot) if snapshot else None
        if root is None or not (root / "tokenizer").is_dir():
            return None
        return root / "tokenizer"
