"""Planning without an engine: defaults in their order, the negative's rule, sizes, and one
field-named error for each bad option."""

from __future__ import annotations

import pytest

from generation.catalog import Catalog
from generation.config import EngineConfig
from prompting import PromptingConfig, load_library
from prompting.errors import PromptError
from studio import GuildRules, ImagineOptions, Planner, StudioOptions
from studio.errors import InvalidRequest


@pytest.fixture(scope="module")
def planner() -> Planner:
    return Planner(
        Catalog.load(),
        load_library(),
        engine=EngineConfig(default_steps=20, default_guidance=7.0),
        prompting=PromptingConfig(),
        options=StudioOptions(default_count=4),
    )


def test_the_members_choice_wins_then_the_guilds_then_the_models_then_the_instances(
    planner: Planner,
) -> None:
    rules = GuildRules(steps=9, cfg=3.0, aspect="16:9")
    plain = planner.plan(ImagineOptions(prompt="a fox", seed=1)).request
    assert (plain.steps, plain.guidance, plain.count, plain.width) == (20, 7.0, 4, 512)
    assert plain.scheduler == "DPM++ 2M Karras"  # the instance's: tiny recommends none
    guild = planner.plan(ImagineOptions(prompt="a fox", seed=1), rules).request
    assert (guild.steps, guild.guidance) == (9, 3.0) and guild.width > guild.height
    mine = planner.plan(ImagineOptions(prompt="a fox", steps=4, cfg=0.0, aspect="1:1"), rules)
    assert (mine.request.steps, mine.request.guidance, mine.request.width) == (4, 0.0, 512)
    xl = planner.plan(ImagineOptions(prompt="a fox", model="tiny-xl")).request
    assert xl.scheduler == planner.catalog.resolve("tiny-xl").scheduler  # the model's own


def test_the_guilds_negative_replaces_the_models_and_the_members_follows(
    planner: Planner,
) -> None:
    family = planner.plan(ImagineOptions(prompt="a fox", seed=1)).built.negative_text
    guild = GuildRules(negative="muddy colours")
    both = planner.plan(ImagineOptions(prompt="a fox", negative="text, muddy colours"), guild)
    assert both.built.negative_text == "muddy colours, text"  # the guild's first, once each
    assert family and family not in both.built.negative_text
    alone = planner.plan(ImagineOptions(prompt="a fox"), guild).built.negative_text
    assert alone == "muddy colours"
    opted_out = planner.plan(
        ImagineOptions(prompt="a fox", negative="text", default_negative=False), guild
    )
    assert opted_out.built.negative_text == "text"


def test_a_guild_allows_only_its_models(planner: Planner) -> None:
    rules = GuildRules(allowed_models=("tiny-xl",))
    assert planner.plan(ImagineOptions(prompt="a fox"), rules).request.model == "tiny-xl"
    with pytest.raises(InvalidRequest) as caught:
        planner.plan(ImagineOptions(prompt="a fox", model="tiny"), rules)
    assert caught.value.field == "model" and "tiny-xl" in caught.value.message


def test_a_path_is_a_model_only_for_the_hosts_operator(planner: Planner, tmp_path: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        planner.plan(ImagineOptions(prompt="a fox", model="/etc"))
    assert caught.value.field == "model" and "tiny" in caught.value.message


def test_the_seed_is_drawn_when_missing_and_reproduces_the_wildcards(planner: Planner) -> None:
    drawn = planner.plan(ImagineOptions(prompt="a {red|blue|green|gold} car", count=4))
    seed = drawn.request.seed
    assert seed is not None
    again = planner.plan(ImagineOptions(prompt="a {red|blue|green|gold} car", count=4, seed=seed))
    assert again.request.per_image_prompts == drawn.request.per_image_prompts
    assert set(drawn.built.per_image_texts or []) <= set(drawn.texts)


@pytest.mark.parametrize(
    ("values", "field", "hint"),
    [
        ({"count": 0}, "count", "1..4"),
        ({"count": 5}, "count", "1..4"),
        ({"steps": 0}, "steps", "1..150"),
        ({"cfg": float("nan")}, "cfg", "0..30"),
        ({"cfg": 31.0}, "cfg", "0..30"),
        ({"seed": -1}, "seed", "0..4294967295"),
        ({"steps": "many"}, "steps", "1..150"),
    ],
)
def test_each_bad_option_is_one_error_naming_it_and_its_range(
    values: dict[str, object], field: str, hint: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        ImagineOptions.parse(prompt="a fox", **values)
    assert caught.value.field == field and hint in caught.value.message


def test_prompt_errors_name_the_option_a_member_typed(planner: Planner) -> None:
    with pytest.raises(PromptError) as caught:
        planner.plan(ImagineOptions(prompt="   "))
    assert caught.value.field == "prompt"
    with pytest.raises(InvalidRequest) as unknown:
        planner.plan(ImagineOptions(prompt="a fox", aspect="5:4"))
    assert unknown.value.field == "aspect"


def test_what_would_fail_on_the_worker_fails_at_planning_naming_the_option(
    planner: Planner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # compel parses nesting in time exponential in its depth: refused before the queue.
    deep = "(" * 6 + "a fox" + ")1.1" * 6
    with pytest.raises(PromptError) as nested:
        planner.plan(ImagineOptions(prompt=deep))
    assert nested.value.field == "prompt" and nested.value.code == "too_deep"
    with pytest.raises(PromptError) as negative:
        planner.plan(ImagineOptions(prompt="a fox", negative="(" * 5 + "blur" + ")-" * 5))
    assert negative.value.field == "negative"
    assert planner.plan(ImagineOptions(prompt="(" * 12 + "a fox" + ")" * 12))  # A1111: flattened
    # A hub model the offline host never downloaded, when models load in this process (no
    # Redis workers): refused here, not as a failed job after its turn in the queue.
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    here = Planner(
        planner.catalog,
        planner.presets,
        engine=planner.engine,
        prompting=planner.prompting,
        options=StudioOptions(models_here=True),
    )
    with pytest.raises(InvalidRequest) as offline:
        here.plan(ImagineOptions(prompt="a fox", model="sd15"))
    assert offline.value.field == "model" and "offline" in offline.value.message
    # With Redis workers the models live on their hosts: the bot cannot tell, and does not.
    assert planner.plan(ImagineOptions(prompt="a fox", model="sd15")).request.model == "sd15"


def test_option_lengths_are_declared_once_and_checked_with_the_range(planner: Planner) -> None:
    with pytest.raises(InvalidRequest) as long:
        ImagineOptions.parse(prompt="x" * 1999)
    assert long.value.field == "prompt" and "1..1500" in long.value.message
    assert "1999 characters" in long.value.message  # not the text itself
    with pytest.raises(InvalidRequest) as style:
        ImagineOptions.parse(prompt="a fox", style="s" * 101)
    assert style.value.field == "style"
