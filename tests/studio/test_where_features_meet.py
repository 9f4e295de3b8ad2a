"""The nine defects of issue 11, where two features met, each reproduced no longer: studio on the
real queue, SQLite and the tiny engines (the bot's and the CLI's sides are in tests/bot/)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from generation import sizes
from generation.catalog import Catalog
from generation.config import EngineConfig
from generation.png import COMPEL_KEY, parse_parameters, read_parameters
from generation.tiny import has_real_clip_vocabulary
from generation.tokenizer_shelf import TokenizerShelf
from prompting import PromptingConfig, load_library
from studio import GuildRules, ImagineOptions, Planner, Requester, Studio, StudioOptions
from studio.errors import InvalidRequest, InvalidSetting, PromptError
from tests.studio.conftest import finished

ALICE = Requester(user_id=1, guild_id=10, channel_id=100)
ELSEWHERE = Requester(user_id=1, guild_id=11, channel_id=110)
ADMIN = Requester(user_id=99, guild_id=10, channel_id=100, manage_guild=True)

SYNTHWAVE = """
[presets.synthwave]
description = "Retro 80s neon"
positive = "synthwave art of {prompt}, neon grid, sunset"
negative = ["daylight"]
steps = 3
cfg = 5.5
scheduler = "Euler"
aspect = "16:9"
"""


def size_of(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as picture:
        return picture.size


def planner(tmp_path: Path, presets: str = "", **engine: object) -> Planner:
    """The planner as the wiring builds it, at the instance's default sizes."""
    presets_file = None
    if presets:
        presets_file = tmp_path / "presets.toml"
        presets_file.write_text(presets)
    config = EngineConfig(cache_dir=tmp_path / "cache", **engine)  # type: ignore[arg-type]
    return Planner(
        Catalog.load(),
        load_library(presets_file),
        engine=config,
        prompting=PromptingConfig(),
        options=StudioOptions(default_count=4),
        tokenizers=TokenizerShelf(config.cache_dir).for_model,
    )


# 1 ------------------------------------------------------------------------------------------
async def test_1_upscale_and_vary_of_a_wildcard_image_use_that_images_prompt_and_seed(
    studio: Studio,
) -> None:
    options = ImagineOptions(prompt="a {red|blue|green|yellow} car", count=4, seed=11)
    job = (await finished(studio, await studio.submit(options, ALICE))).job
    stored = job.request
    assert stored.per_image_prompts and len(set(stored.per_image_prompts)) > 1
    for action in ("upscale", "vary_subtle", "vary_strong"):
        derived = await studio.derive(job.job_id, action, 1, ALICE)  # U2 / V2
        request = studio.queue.get(derived.job_id).request
        assert (request.count, request.seed) == (1, job.images[1].seed)
        assert request.prompt == stored.per_image_prompts[1]
        assert stored.per_image_source_prompts is not None
        assert request.source_prompt == stored.per_image_source_prompts[1]
        done = (await finished(studio, derived)).job
        written = parse_parameters(read_parameters(done.images[0].png) or "")
        assert written.prompt == stored.per_image_source_prompts[1]


# 2 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["tiny", "tiny-sd2", "tiny-xl", "sd15", "sd21", "sdxl"])
def test_2_every_default_size_of_every_family_can_be_upscaled(tmp_path: Path, model: str) -> None:
    plans = planner(tmp_path)
    family = plans.catalog.resolve(model).family
    for aspect in sizes.ASPECTS:
        request = plans.plan(ImagineOptions(prompt="a car", model=model, aspect=aspect)).request
        width, height = sizes.upscale_size(
            family, request.width, request.height, plans.engine.max_upscale_pixels
        )
        assert width > request.width and height > request.height
        factor = width / request.width
        assert (
            factor == pytest.approx(sizes.UPSCALE_FACTORS[family], abs=0.02)
            or max(width, height) > sizes.MAX_UPSCALE_SIDE - 8 * factor
        )


async def test_2_an_upscale_follows_the_familys_rule_and_says_its_real_size(
    studio: Studio,
) -> None:
    xl = await studio.submit(ImagineOptions(prompt="a car", model="tiny-xl", count=1), ALICE)
    job = (await finished(studio, xl)).job
    upscaled = (await finished(studio, await studio.derive(job.job_id, "upscale", 0, ALICE))).job
    assert size_of(upscaled.images[0].png) == (96, 96)  # SDXL: ×1.5
    settings = parse_parameters(read_parameters(upscaled.images[0].png) or "").settings
    assert settings["Size"] == "96x96" and settings["Hires upscale"] == "1.5"


async def test_2_an_image_that_cannot_grow_is_refused_before_it_is_queued(
    studio: Studio,
) -> None:
    studio.planner.engine.max_upscale_pixels = 64 * 64  # as an operator may set it
    job = (await finished(studio, await studio.submit(ImagineOptions(prompt="a car"), ALICE))).job
    with pytest.raises(InvalidRequest) as caught:
        await studio.derive(job.job_id, "upscale", 0, ALICE)
    assert caught.value.field == "upscale" and "max_upscale_pixels" in caught.value.message


# 3 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["tiny", "tiny-sd2", "tiny-xl", "sd15", "sd21", "sdxl"])
def test_3_every_aspect_of_every_family_runs_with_default_settings(
    tmp_path: Path, model: str
) -> None:
    plans = planner(tmp_path)
    family = plans.catalog.resolve(model).family
    for aspect in sizes.ASPECTS:
        request = plans.plan(ImagineOptions(prompt="a car", model=model, aspect=aspect)).request
        sizes.check_size(family, request.width, request.height, EngineConfig().max_pixels)
        if family == "sdxl":  # the buckets SDXL was trained on, each at most 1024² pixels
            trained = sizes.TRAINED_BUCKETS["sdxl"]
            assert {(request.width, request.height), (request.height, request.width)} & set(trained)


# 4 ------------------------------------------------------------------------------------------
def test_4_a_presets_settings_are_the_jobs_defaults_and_typed_values_win(tmp_path: Path) -> None:
    plans = planner(tmp_path, SYNTHWAVE)
    guild = GuildRules(steps=9, cfg=2.0, aspect="1:1")
    styled = plans.plan(ImagineOptions(prompt="a car", style="synthwave"), guild).request
    assert (styled.steps, styled.guidance, styled.scheduler) == (3, 5.5, "Euler")
    assert (styled.width, styled.height) == plans.size(plans.catalog.resolve("tiny"), "16:9")
    typed = plans.plan(
        ImagineOptions(
            prompt="a car", style="synthwave", steps=4, cfg=7.0, scheduler="DDIM", aspect="2:3"
        ),
        guild,
    ).request
    assert (typed.steps, typed.guidance, typed.scheduler) == (4, 7.0, "DDIM")
    assert typed.width < typed.height
    plain = plans.plan(ImagineOptions(prompt="a car"), guild).request  # no preset: the guild's
    assert (plain.steps, plain.guidance, plain.width) == (9, 2.0, plain.height)


async def test_4_a_guilds_own_presets_reach_imagine_autocomplete_and_styles(
    studio: Studio,
) -> None:
    await studio.settings.add_preset(
        ADMIN,
        {
            "name": "House Style",
            "positive": "house style {prompt}, teal",
            "negative": "grey, dull",
            "steps": 1,
            "scheduler": "euler a",
            "aspect": "9:16",
        },
    )
    assert "house-style" in await studio.choices("style", ALICE)
    assert "house-style" in [p.name for p in await studio.styles(ALICE)]
    assert "house-style" not in await studio.choices("style", ELSEWHERE)
    submitted = await studio.submit(ImagineOptions(prompt="a car", style="house style"), ALICE)
    request = studio.queue.get(submitted.job_id).request
    assert request.prompt.startswith("house style a car") and "dull" in request.negative_prompt
    assert (request.steps, request.scheduler) == (1, "Euler a") and request.width < request.height
    await finished(studio, submitted)
    with pytest.raises(PromptError) as caught:
        await studio.submit(ImagineOptions(prompt="a car", style="house-style"), ELSEWHERE)
    assert caught.value.field == "style"

    with pytest.raises(InvalidSetting) as bad:
        await studio.settings.add_preset(
            ADMIN, {"name": "odd", "positive": "{prompt}", "scheduler": "Euler z"}
        )
    assert bad.value.field == "preset" and "Euler z" in bad.value.message
    with pytest.raises(InvalidSetting) as template:
        await studio.settings.add_preset(ADMIN, {"name": "odd", "positive": "no placeholder"})
    assert template.value.field == "positive"
    await studio.settings.remove_preset(ADMIN, "house-style")
    assert "house-style" not in await studio.choices("style", ALICE)


# 5 ------------------------------------------------------------------------------------------
async def test_5_the_guilds_negative_comes_first_then_the_members_each_term_once(
    studio: Studio,
) -> None:
    studio.guilds.set(10, ADMIN.user_id, "default_negative", "muddy colours, text")
    typed = await studio.submit(ImagineOptions(prompt="a car", negative="text, rain"), ALICE)
    request = studio.queue.get(typed.job_id).request
    assert request.source_negative == "muddy colours, text, rain"
    opted_out = ImagineOptions(prompt="a car", negative="rain", default_negative=False)
    alone = studio.queue.get((await studio.submit(opted_out, ALICE)).job_id).request
    assert alone.source_negative == "rain"


# 6 ------------------------------------------------------------------------------------------
async def test_6_png_parameters_hold_what_the_user_wrote_and_compel_its_own_key(
    studio: Studio,
) -> None:
    written = "a lighthouse, (fog:1.2), [rain], [cat:dog:1]"
    options = ImagineOptions(prompt=written, negative="(blurry:1.3)", count=1, seed=4)
    job = (await finished(studio, await studio.submit(options, ALICE))).job
    png = job.images[0].png
    parameters = parse_parameters(read_parameters(png) or "")
    assert parameters.prompt == written
    assert parameters.negative_prompt.endswith("(blurry:1.3)")
    assert parameters.settings["Seed"] == "4"
    compel = json.loads(read_parameters(png, COMPEL_KEY) or "{}")
    assert compel["prompt"] == job.request.prompt and "(fog)1.2" in compel["prompt"]
    assert compel["prompt_edits"] == [
        {"from_step": 1, "prompt": job.request.prompt_edits[0].prompt}
    ]
    assert "dog" in compel["prompt_edits"][0]["prompt"]


# 7 (the CLI's side: tests/bot/test_same_plan.py) ------------------------------------------------
def test_7_the_models_recommended_scheduler_is_the_default(tmp_path: Path) -> None:
    plans = planner(tmp_path)
    xl = plans.plan(ImagineOptions(prompt="a car", model="tiny-xl")).request
    assert xl.scheduler == "Euler" == plans.catalog.resolve("tiny-xl").scheduler


# 8 ------------------------------------------------------------------------------------------
HUNDRED_WORDS = " ".join(
    f"{word}{index}" if index % 7 == 0 else word
    for index, word in enumerate(("a photograph of an old harbour town at dawn " * 13).split())
)


@pytest.mark.skipif(not has_real_clip_vocabulary(), reason="needs CLIP's real vocabulary")
def test_8_tokens_are_counted_with_the_models_own_tokenizer(tmp_path: Path) -> None:
    from transformers import CLIPTokenizer

    plans = planner(tmp_path)
    plan = plans.plan(ImagineOptions(prompt=HUNDRED_WORDS, count=1))
    words = plan.built.translation.flat(0, plan.built.steps).chunks[0].plain
    tokenizer = CLIPTokenizer.from_pretrained(str(tmp_path / "cache" / "tokenizers" / "tiny"))
    exact = len(tokenizer.tokenize(words))
    [count] = [w for w in plan.warnings if "tokens in" in w]
    assert count.startswith(f"{exact} tokens") and "estimated" not in count
    assert exact != sum(1 for _ in words.split())  # a count, not the number of words

    hub = plans.plan(ImagineOptions(prompt="a car", model="sdxl", count=1))  # not on this host
    assert any("tokens in" in w and "(estimated)" in w for w in hub.warnings)


# 9 (the CLI's and /imagine's sides: tests/bot/) ------------------------------------------------
@pytest.mark.parametrize(
    ("values", "field", "says"),
    [
        ({"count": 0}, "count", "1..4"),
        ({"count": 5}, "count", "1..4"),
        ({"cfg": float("nan")}, "cfg", "finite number in 0..30"),
        ({"cfg": float("inf")}, "cfg", "finite number in 0..30"),
    ],
)
def test_9_errors_name_the_real_range(values: dict[str, object], field: str, says: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        ImagineOptions.parse(prompt="a car", **values)
    assert caught.value.field == field and says in caught.value.message
