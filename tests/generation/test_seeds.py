from __future__ import annotations

import numpy as np
import pytest
import torch

from generation.engine import DiffusersEngine
from generation.png import parse_parameters
from generation.requests import SEED_MAX, GenerationRequest
from generation.seeds import draw_seed, image_seeds, initial_noise, slerp
from tests.generation.pixels import pixels


def test_image_seeds_count_up_and_wrap() -> None:
    assert image_seeds(41, 3) == [41, 42, 43]
    assert image_seeds(SEED_MAX, 2) == [SEED_MAX, 0]
    assert all(0 <= draw_seed() <= SEED_MAX for _ in range(100))


def test_noise_is_what_the_pipeline_draws_and_the_generator_is_advanced() -> None:
    noise, generator = initial_noise((1, 4, 8, 8), 5, dtype=torch.float32, device="cpu")
    reference = torch.Generator("cpu").manual_seed(5)
    assert torch.equal(noise, torch.randn((1, 4, 8, 8), generator=reference))
    assert torch.equal(torch.randn(3, generator=generator), torch.randn(3, generator=reference))


def test_slerp_keeps_the_noise_norm_where_a_line_would_shrink_it() -> None:
    gen = torch.Generator("cpu").manual_seed(0)
    a, b = torch.randn((1, 4, 32, 32), generator=gen), torch.randn((1, 4, 32, 32), generator=gen)
    middle = slerp(0.5, a, b)
    assert float(middle.norm()) == pytest.approx(float(a.norm()), rel=0.05)
    assert ((a + b) / 2).norm() < 0.8 * a.norm()


@pytest.mark.parametrize("scheduler", ["DPM++ 2M Karras", "Euler a"])
def test_variation_strength_0_is_the_seed_and_1_is_the_subseed(
    engine: DiffusersEngine, scheduler: str
) -> None:
    base = {"prompt": "a tree", "width": 64, "height": 64, "steps": 3, "scheduler": scheduler}
    [plain] = engine.generate([GenerationRequest(seed=100, **base)])
    [sub] = engine.generate([GenerationRequest(seed=200, **base)])
    [zero] = engine.generate([GenerationRequest(seed=100, subseed=200, **base)])
    [mid] = engine.generate(
        [GenerationRequest(seed=100, subseed=200, subseed_strength=0.5, **base)]
    )
    [one] = engine.generate(
        [GenerationRequest(seed=100, subseed=200, subseed_strength=1.0, **base)]
    )
    assert np.array_equal(pixels(zero.images[0].png), pixels(plain.images[0].png))
    # Strength 1 takes the subseed's noise; ancestral steps still follow the main seed.
    if scheduler == "DPM++ 2M Karras":
        assert np.array_equal(pixels(one.images[0].png), pixels(sub.images[0].png))
    assert not np.array_equal(pixels(mid.images[0].png), pixels(plain.images[0].png))
    assert not np.array_equal(pixels(mid.images[0].png), pixels(sub.images[0].png))
    settings = parse_parameters(mid.images[0].parameters).settings
    assert settings["Variation seed"] == "200"
    assert settings["Variation seed strength"] == "0.5"
    assert "Variation seed" not in parse_parameters(zero.images[0].parameters).settings


def test_a_subtle_variation_stays_close_to_the_original(engine: DiffusersEngine) -> None:
    base = {"prompt": "a tree", "width": 64, "height": 64, "steps": 3, "seed": 7}
    [plain] = engine.generate([GenerationRequest(**base)])
    [subtle] = engine.generate([GenerationRequest(subseed=8, subseed_strength=0.1, **base)])
    [other] = engine.generate([GenerationRequest(**{**base, "seed": 8})])
    near = np.abs(pixels(subtle.images[0].png).astype(int) - pixels(plain.images[0].png)).mean()
    far = np.abs(pixels(other.images[0].png).astype(int) - pixels(plain.images[0].png)).mean()
    assert near < far


def test_each_image_of_a_request_gets_its_own_subseed(engine: DiffusersEngine) -> None:
    request = GenerationRequest(
        prompt="a", width=64, height=64, steps=2, seed=1, subseed=50, subseed_strength=0.3,
        count=2,
    )  # fmt: skip
    [result] = engine.generate([request])
    assert [image.subseed for image in result.images] == [50, 51]
