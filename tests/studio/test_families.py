"""Each family's rules in planning, drafts and their U button, and LoRAs per guild: the planner
alone, then the studio on the real queue and tiny engine."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from generation.catalog import Catalog
from generation.config import EngineConfig
from prompting import PromptingConfig, load_library
from prompting.errors import PromptError
from studio import GuildRules, ImagineOptions, Planner, Requester, Studio, StudioOptions
from studio.errors import InvalidRequest
from tests.studio.conftest import finished

ALICE = Requester(user_id=1, guild_id=10, channel_id=100)
ADMIN = 99


@pytest.fixture(scope="module")
def planner() -> Planner:
    """The shipped catalog and presets; one image per request unless asked."""
    return Planner(
        Catalog.load(),
        load_library(),
        engine=EngineConfig(),
        prompting=PromptingConfig(),
        options=StudioOptions(default_count=1),
    )


def test_flux_gets_its_guidance_and_no_cfg_or_negative_each_said_once(planner: Planner) -> None:
    plan = planner.plan(ImagineOptions(prompt="a fox", model="tiny-flux", negative="blur", cfg=9))
    request = plan.request
    assert (request.guidance, request.negative_prompt, request.scheduler) == (3.5, "", "Euler")
    told = [w for w in plan.warnings if "negative" in w or "CFG" in w]
    assert len(told) == 2 and any("'blur' was left out" in w for w in told)
    mine = planner.plan(ImagineOptions(prompt="a fox", model="tiny-flux", guidance=2.0)).request
    assert mine.guidance == 2.0
    xl = planner.plan(ImagineOptions(prompt="a fox", model="tiny-xl", guidance=2.0))
    assert xl.request.guidance == 7.0 and any("use cfg" in w for w in xl.notes)


def test_flow_models_sample_with_euler_and_refuse_another_sampler(planner: Planner) -> None:
    assert planner.plan(ImagineOptions(prompt="a", model="tiny-sd3")).request.scheduler == "Euler"
    with pytest.raises(InvalidRequest) as caught:
        planner.plan(ImagineOptions(prompt="a", model="tiny-sd3", scheduler="Euler a"))
    assert caught.value.field == "scheduler" and "Euler only" in caught.value.message


def test_flow_sizes_are_multiples_of_sixteen(planner: Planner) -> None:
    small = Planner(
        planner.catalog,
        planner.presets,
        engine=planner.engine,
        prompting=planner.prompting,
        options=StudioOptions(image_side=200),
    )
    for aspect in ("1:1", "16:9", "3:4"):
        request = small.plan(ImagineOptions(prompt="a", model="tiny-flux", aspect=aspect)).request
        assert request.width % 16 == 0 and request.height % 16 == 0


def test_a_few_step_model_keeps_its_own_steps_and_guidance_over_the_guilds(
    planner: Planner,
) -> None:
    rules = GuildRules(steps=30, cfg=8.0)
    schnell = planner.plan(ImagineOptions(prompt="a", model="tiny-flux-schnell"), rules).request
    assert (schnell.steps, schnell.guidance) == (4, 0.0)
    full = planner.plan(ImagineOptions(prompt="a", model="tiny-xl"), rules).request
    assert (full.steps, full.guidance) == (30, 8.0)
    with pytest.raises(InvalidRequest) as caught:
        planner.plan(ImagineOptions(prompt="a", model="tiny-flux-schnell", steps=10))
    assert caught.value.field == "steps" and "1..4" in caught.value.message


@pytest.mark.parametrize(
    ("model", "draft"),
    [
        ("tiny", "tiny-lcm"),
        ("tiny-xl", "tiny-xl-lightning"),
        ("tiny-flux", "tiny-flux-schnell"),
        ("tiny-sd3", "tiny-sd3-turbo"),
        ("sdxl", "sdxl-lightning"),
        ("flux-dev", "flux-schnell"),
        ("sd35-large", "sd35-large-turbo"),
    ],
)
def test_draft_picks_the_fast_entry_for_the_family(
    planner: Planner, model: str, draft: str
) -> None:
    plan = planner.plan(ImagineOptions(prompt="a fox", model=model, draft=True))
    spec = planner.catalog.resolve(draft)
    assert plan.request.model == draft
    assert (plan.request.steps, plan.request.scheduler) == (spec.steps, spec.scheduler)
    assert (
        planner.full_model(plan.request) == planner.catalog.resolve(spec.draft_of or "")
        and planner.full_model(planner.plan(ImagineOptions(prompt="a")).request) is None
    )


def test_draft_without_a_fast_model_is_a_clear_refusal(planner: Planner) -> None:
    with pytest.raises(InvalidRequest) as caught:
        planner.plan(ImagineOptions(prompt="a", model="sd21", draft=True))
    assert caught.value.field == "draft" and "no fast draft model" in caught.value.message


def test_loras_from_tags_and_the_option_with_catalog_defaults(planner: Planner) -> None:
    plan = planner.plan(ImagineOptions(prompt="a fox <lora:tiny-lora>", model="tiny"))
    assert [(u.name, u.weight) for u in plan.request.loras] == [("tiny-lora", 0.8)]
    assert "lora" not in plan.request.prompt
    option = planner.plan(ImagineOptions(prompt="a fox", lora="tiny-lora:0.3")).request
    assert [(u.name, u.weight) for u in option.loras] == [("tiny-lora", 0.3)]


@pytest.mark.parametrize(
    ("options", "field", "says"),
    [
        ({"prompt": "a <lora:tiny-flux-lora:1>"}, "prompt", "for flux models, not sd1"),
        ({"prompt": "a", "lora": "missing"}, "lora", "unknown LoRA 'missing'"),
        ({"prompt": "a", "lora": "tiny-lora:7"}, "lora", "use -2..2"),
    ],
)
def test_a_bad_lora_names_the_option(
    planner: Planner, options: dict[str, object], field: str, says: str
) -> None:
    with pytest.raises((InvalidRequest, PromptError)) as caught:
        planner.plan(ImagineOptions(**options))  # type: ignore[arg-type]
    assert caught.value.field == field and says in caught.value.message  # type: ignore[union-attr]


def test_a_guild_allows_only_its_loras(planner: Planner) -> None:
    rules = GuildRules(allowed_loras=("tiny-lcm-lora",))
    with pytest.raises(InvalidRequest) as caught:
        planner.plan(ImagineOptions(prompt="a", lora="tiny-lora"), rules)
    assert "not allowed here; use one of: tiny-lcm-lora" in caught.value.message
    assert planner.plan(ImagineOptions(prompt="a", lora="tiny-lcm-lora"), rules).request.loras


def _pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as picture:
        return np.asarray(picture.convert("RGB"))


async def test_a_drafts_u_button_repaints_with_the_full_model_at_the_same_seed(
    studio: Studio,
) -> None:
    draft = await studio.submit(
        ImagineOptions(prompt="a red fox", model="tiny-flux", draft=True, seed=5, count=2), ALICE
    )
    job = (await finished(studio, draft)).job
    assert job.request.model == "tiny-flux-schnell"
    repaint = await studio.derive(draft.job_id, "upscale", 1, ALICE)
    request = studio.queue.get(repaint.job_id).request
    assert (request.model, request.seed, request.count, request.mode) == (
        "tiny-flux",
        6,
        1,
        "txt2img",
    )
    assert request.prompt == job.request.prompt and request.guidance == 3.5
    full = (await finished(studio, repaint)).job
    direct = await studio.submit(
        ImagineOptions(prompt="a red fox", model="tiny-flux", seed=6, count=1, steps=request.steps),
        ALICE,
    )
    same = (await finished(studio, direct)).job
    assert np.array_equal(_pixels(full.images[0].png), _pixels(same.images[0].png))


async def test_a_full_models_u_button_still_upscales(studio: Studio) -> None:
    painted = await studio.submit(ImagineOptions(prompt="a fox", model="tiny-sd3", count=1), ALICE)
    await finished(studio, painted)
    upscale = await studio.derive(painted.job_id, "upscale", 0, ALICE)
    assert studio.queue.get(upscale.job_id).request.mode == "upscale"
    done = (await finished(studio, upscale)).job
    assert _pixels(done.images[0].png).shape == (96, 96, 3)  # ×1.5 for the 1024² families


async def test_lora_choices_follow_the_guilds_allowed_list(studio: Studio) -> None:
    assert "tiny-flux-lora" in await studio.choices("lora", ALICE)
    studio.guilds.set_allowed_loras(10, ADMIN, ["tiny-lora"])
    assert await studio.choices("lora", ALICE) == ["tiny-lora"]
    with pytest.raises(InvalidRequest):
        await studio.submit(ImagineOptions(prompt="a <lora:tiny-lcm-lora>"), ALICE)
    from studio.errors import InvalidSetting

    with pytest.raises(InvalidSetting) as caught:
        studio.guilds.set_allowed_loras(10, ADMIN, ["nope"])
    assert caught.value.field == "allowed_loras"
