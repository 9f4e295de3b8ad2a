"""Prompt conditioning of FLUX.1 and SD 3.5 with compel, and textual-inversion token expansion.

FLUX.1 (compel's ``CompelForFlux``): T5 gives the per-token embeddings, weighted as compel
weights them; CLIP gives only the pooled vector (no weights: it is one vector for the whole
text). T5 reads ``max_sequence_length`` tokens (the catalog's, else the tokenizer's).

SD 3.5 (``CompelForSD3`` here, built from compel's pieces as diffusers' ``encode_prompt`` builds
its tensors): CLIP-L and CLIP-G penultimate hidden states side by side, zero-padded to T5's width,
then T5's tokens after them; the pooled vector is CLIP-L's and CLIP-G's projections side by side.
Both CLIPs read 77 tokens (as the pipeline truncates them) and T5 the rest of a long prompt; a
model loaded without T5 gets zeros in its place, as diffusers does. For unweighted text the
tensors equal the pipeline's own (within float rounding; tested).
"""

from __future__ import annotations

from typing import Any

from compel import BaseTextualInversionManager, Compel, CompelForFlux, ReturnedEmbeddingsType
from compel.convenience_wrappers import LabelledConditioning


class TokenizerInversionManager(BaseTextualInversionManager):
    """compel's diffusers manager for one given tokenizer (SDXL's second has its own tokens).

    A multi-vector embedding's token becomes its ``token token_1 …`` run, so a weight on the
    token weighs every vector. Token ids without an added token pass through untouched.
    """

    def __init__(self, pipe: Any, tokenizer: Any) -> None:
        self.pipe = pipe
        self.tokenizer = tokenizer

    def expand_textual_inversion_token_ids_if_necessary(self, token_ids: list[int]) -> list[int]:
        special = set(self.tokenizer.all_special_ids)
        added = set(self.tokenizer.get_added_vocab().values()) - special
        if not added.intersection(token_ids):
            return token_ids
        prompt = self.tokenizer.decode(token_ids)
        prompt = self.pipe.maybe_convert_prompt(prompt, self.tokenizer)
        return list(self.tokenizer.encode(prompt, add_special_tokens=False))


def compel_for_flux(pipe: Any, device: str, max_sequence_length: int | None) -> Any:
    wrapper = CompelForFlux(pipe, device=device)
    if max_sequence_length is not None:
        wrapper.compel_2.conditioning_provider.model_max_length_override = max_sequence_length
    return wrapper


class CompelForSD3:
    """``(text) → LabelledConditioning(embeds, pooled_embeds)`` for a StableDiffusion3Pipeline."""

    def __init__(self, pipe: Any, device: str, max_sequence_length: int | None) -> None:
        def clip(tokenizer: Any, encoder: Any) -> Compel:
            return Compel(
                tokenizer=tokenizer,
                text_encoder=encoder,
                returned_embeddings_type=ReturnedEmbeddingsType.PENULTIMATE_HIDDEN_STATES_NON_NORMALIZED,
                requires_pooled=True,
                truncate_long_prompts=True,
                device=device,
            )

        self.compel_1 = clip(pipe.tokenizer, pipe.text_encoder)
        self.compel_2 = clip(pipe.tokenizer_2, pipe.text_encoder_2)
        self.compel_3: Compel | None = None
        self.length = max_sequence_length or 256  # the pipeline's default
        self.width = pipe.transformer.config.joint_attention_dim
        if pipe.text_encoder_3 is not None:
            self.length = max_sequence_length or min(pipe.tokenizer_3.model_max_length, 512)
            self.compel_3 = Compel(
                tokenizer=pipe.tokenizer_3,
                text_encoder=pipe.text_encoder_3,
                truncate_long_prompts=True,
                model_max_length=self.length,
                device=device,
            )

    def __call__(self, text: str) -> LabelledConditioning:
        import torch

        left, pooled_left = self.compel_1(text)
        right, pooled_right = self.compel_2(text)
        clip = torch.cat([left, right], dim=-1)
        if self.compel_3 is not None:
            t5 = self.compel_3(text)
        else:
            t5 = torch.zeros((1, self.length, self.width), device=clip.device, dtype=clip.dtype)
        clip = torch.nn.functional.pad(clip, (0, t5.shape[-1] - clip.shape[-1]))
        return LabelledConditioning(
            embeds=torch.cat([clip, t5.to(clip.dtype)], dim=-2),
            pooled_embeds=torch.cat([pooled_left, pooled_right], dim=-1),
        )

    @property
    def parsers(self) -> list[Compel]:
        return [c for c in (self.compel_1, self.compel_2, self.compel_3) if c is not None]
