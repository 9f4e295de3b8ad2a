"""Regression tests for the leaks of issue 13: every text of a request is checked, the absolute
rule holds in NSFW channels, the model's own checker counts, guild patterns cannot stall a check."""

from __future__ import annotations

import pytest

from prompting import build
from safety.config import SafetyConfig
from safety.errors import InvalidSafetyInput
from safety.images import ImageVerdict
from safety.models import ChannelFlags, GuildSafety
from safety.policy import decide
from safety.prompt_filter import PromptFilter
from safety.terms import GuildTerm, validate_guild_term

NSFW = ChannelFlags(nsfw=True)
NSFW_OK = GuildSafety(allow_nsfw_in_age_restricted=True)


def request_texts(prompt: str, seed: int, count: int = 4) -> list[str]:
    """What the studio passes: the prompt, each image's text and each edit step's."""
    built = build(prompt, seed=seed, count=count)
    return [
        prompt,
        built.positive_text,
        *(built.per_image_texts or []),
        built.positive,
        *(built.per_image_positives or []),
        *(edit.prompt for edit in built.edits),
    ]


# -- leak 1: only the first image's text was checked -------------------------------------------


@pytest.mark.parametrize("position", [0, 1, 2, 3])
def test_a_variant_in_any_position_is_caught(prompt_filter: PromptFilter, position: int) -> None:
    texts = ["clothed child, studio photo"] * 4
    texts[position] = "nude child, studio photo"
    verdict = prompt_filter.check_many(texts, channel=NSFW, guild=NSFW_OK)
    assert verdict.absolute and not verdict.allowed and verdict.minor


def test_wildcard_variants_are_caught_whatever_the_seed(prompt_filter: PromptFilter) -> None:
    for seed in range(40):
        texts = request_texts("{clothed|nude} child, studio photo", seed)
        assert prompt_filter.check_many(texts, channel=NSFW, guild=NSFW_OK).absolute, seed
    # and when no variant is harmful, nothing is refused
    assert prompt_filter.check_many(request_texts("{red|blue} car", 3)).allowed


@pytest.mark.parametrize(
    "prompt",
    [
        "nu BREAK de woman",
        "(nak:1.1)(ed:1.1) woman",
        "(nak)1.1(ed)1.1 woman",
        "[na:ked:3] woman",
        "((n))((u))((d))((e)) woman",
        "se AND x scene",
        "[a cat:a naked woman:0.7]",
        "[dressed|naked] woman",
    ],
)
def test_words_split_by_prompt_syntax_are_read_whole(
    prompt_filter: PromptFilter, prompt: str
) -> None:
    verdict = prompt_filter.check_many(request_texts(prompt, 0))
    assert not verdict.allowed and "sexual" in verdict.blocking


def test_check_many_reports_how_many_texts_it_read(prompt_filter: PromptFilter) -> None:
    verdict = prompt_filter.check_many(["a cat", "a cat", "a dog"])
    assert verdict.allowed and verdict.texts == 2


# -- leak 2: the absolute rule leaked in NSFW channels ------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    [
        "child in lingerie",
        "sexy child",
        "seductive 12 year old",
        "preteen in lingerie",
        "nude baby",
        "nude 5th grader",
        "nude girl aged nine",
        "kid in her birthday suit",
        "niña desnuda",
        "a nude child of light",
        "girl aged 10 in a bikini",
        "twelve-year-old, sexy",
        "nacktes Kind",
        "голая девочка",
        "裸の少女",
    ],
)
def test_minors_with_sexual_content_are_refused_where_nsfw_is_allowed(
    prompt_filter: PromptFilter, prompt: str
) -> None:
    verdict = prompt_filter.check(prompt, channel=NSFW, guild=NSFW_OK)
    assert verdict.absolute and not verdict.allowed and verdict.minor


def test_no_exemption_removes_a_minor(prompt_filter: PromptFilter) -> None:
    guild = NSFW_OK.model_copy(update={"exemptions": ("child", "nude", "kid", "child of light")})
    for prompt in ("nude child", "a nude child of light", "sexy kid"):
        assert prompt_filter.check(prompt, channel=NSFW, guild=guild).absolute, prompt


def test_a_kid_goat_is_no_minor_and_sexy_alone_blocks_nothing(prompt_filter: PromptFilter) -> None:
    assert not prompt_filter.check("a kid goat in a meadow").minor
    verdict = prompt_filter.check("a woman in a bikini on a beach")
    assert verdict.allowed and verdict.categories == ["suggestive"]


# -- leak 3 and the minor rule for images: the policy ---------------------------------------------

ALLOWED = PromptFilter().check("a castle at dusk")
MINOR = PromptFilter().check("children flying kites on a hill")
SAFE = ImageVerdict(index=0, status="safe")


def test_the_models_own_checker_flags_an_image_the_classifier_passed() -> None:
    withheld = decide(ALLOWED, [SAFE], ChannelFlags(), GuildSafety(), model_nsfw=[True])
    assert withheld.images[0].action == "withhold" and withheld.images[0].log
    assert "safety checker" in withheld.images[0].reason
    posted = decide(ALLOWED, [SAFE], NSFW, NSFW_OK, model_nsfw=[True])
    assert posted.images[0].action == "post"
    plain = decide(ALLOWED, [SAFE], ChannelFlags(), GuildSafety(), [False])
    assert plain.images[0].action == "post"


def test_model_verdicts_must_match_the_images() -> None:
    with pytest.raises(InvalidSafetyInput, match="model_nsfw"):
        decide(ALLOWED, [SAFE], ChannelFlags(), GuildSafety(), model_nsfw=[True, False])


@pytest.mark.parametrize("model_flag", [True, False])
def test_a_flagged_image_of_a_prompt_naming_a_minor_is_withheld_even_where_nsfw_is_allowed(
    model_flag: bool,
) -> None:
    assert MINOR.allowed and MINOR.minor
    flagged = ImageVerdict(
        index=0, status="safe" if model_flag else "flagged", reasons=[] if model_flag else ["x"]
    )
    for sfw_action in ("withhold", "blur_spoiler"):
        guild = NSFW_OK.model_copy(update={"sfw_action": sfw_action})
        for channel in (NSFW, ChannelFlags()):
            decision = decide(MINOR, [flagged], channel, guild, model_nsfw=[model_flag])
            (image,) = decision.images
            assert image.action == "withhold" and image.log and "minor" in image.reason


# -- leak 4: guild patterns ------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["(?:z|zz)+y", "z+z+z+y", "(a|aa)+$", r"\w+\d+y", ".*a.*b"])
def test_backtracking_patterns_are_refused_by_their_shape(pattern: str) -> None:
    with pytest.raises(InvalidSafetyInput) as caught:
        validate_guild_term(pattern, True)
    assert caught.value.field == "term"


@pytest.mark.parametrize(
    "pattern", [r"\bep(isode)? ?\d+\b", r"\w+\s+\w+", "foo.*bar", "(?:ab|cd)+"]
)
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    assert validate_guild_term(pattern, True).regex


def test_the_time_of_all_patterns_together_is_capped() -> None:
    # Stored before vetting existed: each is slow on this prompt, none alone past its own limit.
    slow = tuple(GuildTerm(text=f"(?:z|zz)+y{i}", regex=True) for i in range(200))
    prompt_filter = PromptFilter(SafetyConfig(regex_timeout_ms=10_000, regex_budget_ms=50))
    verdict = prompt_filter.check("z" * 22, guild=GuildSafety(terms=slow))
    assert not verdict.allowed and "too long" in verdict.reason
