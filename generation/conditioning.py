"""Prompt conditioning through compel: weights, long prompts, and a cache of encoded prompts.

Prompts arrive in compel syntax (``prompting`` translates A1111's). Each text is encoded once per
model and kept in an LRU, so a reroll or a variation does not run the text encoder again. compel
never truncates here: a long prompt becomes several 77-token chunks, and every tensor of a batch
(positives, negatives, edited prompts) is padded with the empty prompt's chunk to one length,
which the UNet's cross-attention accepts.

SD 1.x/2.x have one text encoder; SDXL has two plus pooled embeddings (``CompelForSDXL``). SDXL
zeroes an empty negative prompt unless it gets one explicitly, so ``""`` is encoded like any text.
"""

from __future__ import annotations

import re
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from generation.errors import InvalidRequest
from generation.loading import LoadedModel

MAX_NESTING = 4
"""compel's parser backtracks exponentially on nested groups: ``((((((x))))))`` takes seconds
per level beyond four (22 s at seven on this CPU), which would stall a worker for everyone."""

_ESCAPED_PAREN = re.compile(r"\\[()]")


def check_syntax(field: str, text: str) -> None:
    """Refuse text compel cannot parse in reasonable time (``field`` names it for the user)."""
    depth = deepest = 0
    for char in _ESCAPED_PAREN.sub("", text):
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth = max(0, depth - 1)
    if deepest > MAX_NESTING:
        raise InvalidRequest(
            field,
            f"parentheses nested {deepest} deep; use at most {MAX_NESTING} levels "
            "(write (word)1.5 rather than ((((word)))))",
        )


@dataclass(frozen=True)
class Encoded:
    """One prompt's conditioning: ``embeds`` (1, 77·k, D) and, for SDXL, ``pooled`` (1, P)."""

    embeds: Any
    pooled: Any | None = None

    @property
    def tokens(self) -> int:
        """Token positions: 77 per chunk."""
        return int(self.embeds.shape[1])


# Text with none of compel's syntax characters ( ) [ ] + - " \\ parses to one fragment at weight 1.
_PLAIN_TEXT = re.compile(r"[\w\s,;:!?'&/%#@*.]*")


def parse_plain_or_compel(text: str) -> Any:
    """compel's own parse, skipped for plain text, where its result is known without parsing.

    compel builds a pyparsing grammar and parses every new text (20–30 ms on a CPU, more than
    a small text encoder's whole forward pass). Plain text always parses to one fragment at
    weight 1.0, with a space enforced after commas and runs of whitespace collapsed; a property
    test checks this shortcut against compel's parser.
    """
    from compel.prompt_parser import Conjunction, FlattenedPrompt, PromptParser

    if _PLAIN_TEXT.fullmatch(text):
        fragment = " ".join(re.sub(r",(\S)", r", \1", text).split())
        return Conjunction([FlattenedPrompt([(fragment, 1.0)])], weights=[1.0])
    return PromptParser().parse_conjunction(text)


class PromptEncoder:
    """Encodes compel-syntax prompts for loaded models, remembering the last ``cache_size``."""

    def __init__(self, cache_size: int = 256) -> None:
        self.cache_size = cache_size
        self.encoded = 0  # texts actually run through a text encoder (cache misses)
        self._cache: OrderedDict[tuple[str, str], Encoded] = OrderedDict()
        # pipe → compel wrapper; weak, so a model the loader evicted is not kept alive here
        self._compel: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    def encode(self, model: LoadedModel, text: str) -> Encoded:
        key = (model.name, text)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        from compel.prompt_parser import PromptParser

        try:
            result = self._compel_for(model)(text)
        except PromptParser.ParsingException as exc:
            raise InvalidRequest("prompt", f"cannot read {text[:80]!r}: {exc}") from None
        encoded = Encoded(result.embeds, result.pooled_embeds)
        self.encoded += 1
        self._cache[key] = encoded
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return encoded

    def pad(self, tensors: Sequence[Any], model: LoadedModel) -> list[Any]:
        """``tensors`` (1, L_i, D) lengthened to the longest with chunks of the empty prompt."""
        import torch

        longest = max(tensor.shape[1] for tensor in tensors)
        if all(tensor.shape[1] == longest for tensor in tensors):
            return list(tensors)
        empty = self.encode(model, "").embeds
        padded = []
        for tensor in tensors:
            repeats = (longest - tensor.shape[1]) // empty.shape[1]
            padded.append(torch.cat([tensor, *([empty] * repeats)], dim=1))
        return padded

    def _compel_for(self, model: LoadedModel) -> Any:
        wrapper = self._compel.get(model.pipe)
        if wrapper is None:
            from compel import CompelForSD, CompelForSDXL

            cls = CompelForSDXL if model.family == "sdxl" else CompelForSD
            wrapper = cls(model.pipe, device=str(model.pipe._execution_device))
            for name in ("compel", "compel_1", "compel_2"):
                if hasattr(wrapper, name):
                    inner = getattr(wrapper, name)
                    inner.parse_prompt_string = parse_plain_or_compel
                    if inner.requires_pooled:
                        inner.build_conditioning_tensor = _embeds_only_inside(inner)
            self._compel[model.pipe] = wrapper
        return wrapper


def _embeds_only_inside(compel: Any) -> Any:
    """compel 2.5.1's weighted ``.and(1, 0.8)`` on SDXL fails ("'tuple' object has no attribute
    'shape'"): it blends each part with ``build_conditioning_tensor("")``, which returns
    (embeds, pooled) on the encoder that has pooled outputs. That internal call is the only one
    without ``return_tokenization``; give it the embeds alone (the public path asks for
    tokenization and keeps its pooled output)."""
    original = compel.build_conditioning_tensor

    def build(text: str, return_tokenization: bool = False) -> Any:
        built = original(text, return_tokenization=return_tokenization)
        return built if return_tokenization else built[0]

    return build
