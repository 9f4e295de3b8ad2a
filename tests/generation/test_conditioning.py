from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from generation.conditioning import PromptEncoder, parse_plain_or_compel
from generation.engine import DiffusersEngine
from generation.loading import PipelineLoader
from generation.requests import GenerationRequest, PromptEdit
from tests.generation.pixels import pixels

WORDS = [
    "castle",
    "river",
    "forest",
    "mountain",
    "dragon",
    "knight",
    "lantern",
    "meadow",
    "harbor",
    "tower",
    "bridge",
    "orchard",
    "glacier",
    "canyon",
    "desert",
    "oasis",
    "market",
    "festival",
    "violin",
    "garden",
]
LONG_PROMPT = " ".join(WORDS[i % len(WORDS)] for i in range(100))
SMALL = {"width": 64, "height": 64, "steps": 4}


def test_unweighted_prompts_encode_like_the_pipeline(loader: PipelineLoader) -> None:
    model = loader.get("tiny")
    encoder = PromptEncoder()
    positive, negative = model.pipe.encode_prompt(
        "a photo of a cat", "cpu", 1, True, negative_prompt="ugly"
    )
    assert torch.allclose(encoder.encode(model, "a photo of a cat").embeds, positive, atol=1e-5)
    assert torch.allclose(encoder.encode(model, "ugly").embeds, negative, atol=1e-5)


def test_sdxl_prompts_encode_like_the_pipeline_with_pooled_embeddings(
    loader: PipelineLoader,
) -> None:
    model = loader.get("tiny-xl")
    encoder = PromptEncoder()
    embeds, negative, pooled, negative_pooled = model.pipe.encode_prompt(
        "a photo of a cat", device="cpu", negative_prompt=""
    )
    cat, empty = encoder.encode(model, "a photo of a cat"), encoder.encode(model, "")
    assert torch.allclose(cat.embeds, embeds, atol=1e-5)
    assert torch.allclose(cat.pooled, pooled, atol=1e-5)
    assert torch.allclose(empty.embeds, negative, atol=1e-5)  # "" explicitly, not zeros
    assert torch.allclose(empty.pooled, negative_pooled, atol=1e-5)
    assert empty.embeds.abs().sum() > 0


def test_a_weighted_and_encodes_on_sdxl_too(loader: PipelineLoader) -> None:
    """compel 2.5.1 failed on SDXL with weights ≠ 1 ('tuple' object has no attribute 'shape');
    the intersection matrix found it (SDXL × ``a BREAK b AND c :0.8``)."""
    model = loader.get("tiny-xl")
    encoder = PromptEncoder()
    weighted = encoder.encode(model, '("a lighthouse", "a night sky").and(1, 0.8)')
    even = encoder.encode(model, '("a lighthouse", "a night sky").and()')
    assert weighted.embeds.shape == even.embeds.shape == (1, 154, 64)
    assert weighted.pooled is not None and weighted.pooled.shape == (1, 32)
    assert not torch.allclose(weighted.embeds, even.embeds, atol=1e-4)


def test_weights_change_the_embeddings(loader: PipelineLoader) -> None:
    model = loader.get("tiny")
    encoder = PromptEncoder()
    plain = encoder.encode(model, "a red fox").embeds
    weighted = encoder.encode(model, "a (red)1.5 fox").embeds
    assert plain.shape == weighted.shape
    assert not torch.allclose(plain, weighted, atol=1e-3)


def test_a_100_word_prompt_is_not_truncated_and_paints(engine: DiffusersEngine) -> None:
    model = engine.loader.get("tiny")
    assert engine.encoder.encode(model, LONG_PROMPT).tokens >= 2 * 77
    request = GenerationRequest(prompt=LONG_PROMPT, negative_prompt="blurry", seed=3, **SMALL)
    changed_tail = LONG_PROMPT.rsplit(" ", 1)[0] + " volcano"
    [long] = engine.generate([request])
    [tail] = engine.generate([request.model_copy(update={"prompt": changed_tail})])
    # The last word lies past the first 77 tokens: a truncating encoder would ignore it.
    assert not np.array_equal(pixels(long.images[0].png), pixels(tail.images[0].png))


def test_a_long_negative_with_a_short_prompt_is_padded_to_match(engine: DiffusersEngine) -> None:
    request = GenerationRequest(prompt="a cat", negative_prompt=LONG_PROMPT, seed=3, **SMALL)
    [result] = engine.generate([request])
    assert len(result.images) == 1


def test_a_reroll_does_not_encode_again(engine: DiffusersEngine) -> None:
    request = GenerationRequest(prompt="a quiet harbor", negative_prompt="fog", seed=1, **SMALL)
    engine.generate([request])
    encoded = engine.encoder.encoded
    assert encoded >= 2
    engine.generate([request.model_copy(update={"seed": 2, "request_id": "reroll"})])
    assert engine.encoder.encoded == encoded


def test_the_cache_forgets_the_least_recently_used(loader: PipelineLoader) -> None:
    model = loader.get("tiny")
    encoder = PromptEncoder(cache_size=2)
    for text in ("one", "two", "one", "three", "one"):
        encoder.encode(model, text)
    assert encoder.encoded == 3  # "one" stayed cached; "two" was evicted by "three"
    encoder.encode(model, "two")
    assert encoder.encoded == 4


@pytest.mark.parametrize("model", ["tiny", "tiny-xl"])
def test_a_prompt_edit_changes_the_image_from_its_step(engine: DiffusersEngine, model: str) -> None:
    base = GenerationRequest(prompt="a cat", seed=9, model=model, **SMALL)
    edited = base.model_copy(update={"prompt_edits": [PromptEdit(from_step=2, prompt="a dog")]})
    from_start = base.model_copy(update={"prompt_edits": [PromptEdit(from_step=0, prompt="a dog")]})
    [plain] = engine.generate([base])
    [switched] = engine.generate([edited])
    [dog_all_along] = engine.generate([from_start])
    [dog] = engine.generate([base.model_copy(update={"prompt": "a dog"})])
    assert not np.array_equal(pixels(plain.images[0].png), pixels(switched.images[0].png))
    assert not np.array_equal(pixels(dog.images[0].png), pixels(switched.images[0].png))
    assert np.array_equal(pixels(dog_all_along.images[0].png), pixels(dog.images[0].png))


def test_edits_in_a_batch_apply_to_their_own_request_only(engine: DiffusersEngine) -> None:
    edit = [PromptEdit(from_step=2, prompt="a dog")]
    edited = GenerationRequest(prompt="a cat", seed=9, prompt_edits=edit, **SMALL)
    other = GenerationRequest(prompt="a boat", seed=4, prompt_edits=[PromptEdit(from_step=3,
                              prompt="a boat")], **SMALL)  # fmt: skip
    [edited_alone] = engine.generate([edited])
    [other_alone] = engine.generate([other])
    together = engine.generate([edited, other])
    for alone, batched in ((edited_alone, together[0]), (other_alone, together[1])):
        diff = np.abs(pixels(alone.images[0].png).astype(int) - pixels(batched.images[0].png))
        assert diff.max() <= 1


def test_deeply_nested_parentheses_are_refused_before_compel_stalls_on_them(
    engine: DiffusersEngine,
) -> None:
    from generation.errors import InvalidRequest

    nested = "(" * 10 + "x" + ")" * 10
    with pytest.raises(InvalidRequest) as caught:
        engine.generate([GenerationRequest(prompt=f"a {nested} cat", seed=1, **SMALL)])
    assert caught.value.field == "prompt" and "at most 4" in caught.value.message
    with pytest.raises(InvalidRequest) as caught:
        engine.generate([GenerationRequest(prompt="a", negative_prompt=nested, seed=1, **SMALL)])
    assert caught.value.field == "negative_prompt"
    escaped = "\\(" * 10 + "x" + "\\)" * 10  # literal brackets are plain text
    [result] = engine.generate([GenerationRequest(prompt=escaped, seed=1, **SMALL)])
    assert len(result.images) == 1


def test_compel_syntax_it_cannot_read_is_a_clear_error(engine: DiffusersEngine) -> None:
    from generation.errors import InvalidRequest

    with pytest.raises(InvalidRequest) as caught:
        engine.generate([GenerationRequest(prompt="(a, b).blend(1)", seed=1, **SMALL)])
    assert caught.value.field == "prompt" and "blend" in caught.value.message.lower()


PLAIN_ALPHABET = "abcXYZé0129 ,;:!?'&/%#@*.\t\n_"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=PLAIN_ALPHABET, max_size=60))
def test_plain_text_shortcut_equals_compels_own_parse(text: str) -> None:
    from compel.prompt_parser import PromptParser

    assert parse_plain_or_compel(text) == PromptParser().parse_conjunction(text)


@pytest.mark.parametrize(
    "text", ["(fog)1.2 sea", "a cat++", "close-up", '("a", "b").and()', "\\(x\\)"]
)
def test_text_with_compel_syntax_still_goes_through_compels_parser(text: str) -> None:
    from compel.prompt_parser import PromptParser

    assert parse_plain_or_compel(text) == PromptParser().parse_conjunction(text)
