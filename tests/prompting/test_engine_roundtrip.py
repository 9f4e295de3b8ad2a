"""What prompting builds, the real engine paints: compel strings, BREAK chunks, edits, wildcards.

Runs the built-in tiny model on CPU (64², 4 steps), so the compel syntax, the ``.and()`` chunks,
the edit schedule and the per-image prompts are all accepted by compel and diffusers for real.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prompting import BuiltPrompt, PromptSpec, build

pytestmark = pytest.mark.slow
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> object:
    from generation.config import EngineConfig
    from generation.engine import DiffusersEngine
    from generation.loading import PipelineLoader

    cache: Path = tmp_path_factory.mktemp("model-cache")
    config = EngineConfig(cache_dir=cache, device="cpu")
    return DiffusersEngine(PipelineLoader(config), config)


def paint(engine: object, built: BuiltPrompt, count: int, seed: int) -> list[str]:
    from generation.requests import GenerationRequest, PromptEdit

    request = GenerationRequest(
        prompt=built.positive,
        negative_prompt=built.negative,
        width=64,
        height=64,
        steps=built.steps,
        seed=seed,
        count=count,
        per_image_prompts=built.per_image_positives,
        prompt_edits=[PromptEdit(from_step=e.from_step, prompt=e.prompt) for e in built.edits],
    )
    (result,) = engine.generate([request])  # type: ignore[attr-defined]
    assert len(result.images) == count
    return [image.prompt for image in result.images]


def test_weights_break_and_editing_reach_the_pipeline(engine: object) -> None:
    spec = PromptSpec(
        subject="a castle (on a hill:1.3) BREAK [at dawn:at night:2], [snow|rain]",
        style="oil-painting",
        negative="(blurry:1.2)",
    )
    built = build(spec, steps=4, seed=1)
    assert built.positive.endswith(".and()")
    assert [e.from_step for e in built.edits] == [1, 2, 3]
    assert paint(engine, built, count=1, seed=1) == [built.positive]


def test_wildcards_paint_one_variant_per_image(engine: object) -> None:
    built = build("a {red|green|blue|white} boat, (sea:1.2)", steps=4, seed=11, count=4)
    assert built.per_image_positives is not None
    assert paint(engine, built, count=4, seed=11) == built.per_image_positives
