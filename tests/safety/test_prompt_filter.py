from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safety.config import SafetyConfig
from safety.models import ChannelFlags, GuildSafety
from safety.prompt_filter import PromptFilter
from safety.terms import GuildTerm, validate_guild_term

_FILTER = PromptFilter()
NSFW_OK = (ChannelFlags(nsfw=True), GuildSafety(allow_nsfw_in_age_restricted=True))


def test_a_plain_art_prompt_is_allowed(prompt_filter: PromptFilter) -> None:
    verdict = prompt_filter.check("a castle on a hill at dusk, oil painting")
    assert verdict.allowed
    assert verdict.matches == [] and verdict.categories == [] and verdict.reason == ""


@pytest.mark.parametrize(
    "prompt", ["the Scunthorpe skyline", "data analysis chart", "a cocktail bar", "spices"]
)
def test_words_containing_blocked_text_pass(prompt_filter: PromptFilter, prompt: str) -> None:
    assert prompt_filter.check(prompt).allowed


def test_a_blocked_prompt_says_why_with_normalised_matches(prompt_filter: PromptFilter) -> None:
    verdict = prompt_filter.check("portrait, n.u.d.3 woman, p0rn")
    assert not verdict.allowed
    assert verdict.categories == ["sexual"] and verdict.blocking == ["sexual"]
    assert {m.found for m in verdict.matches} == {"nude", "porn"}
    assert "sexual" in verdict.reason and "nude" in verdict.reason
    assert not verdict.absolute


def test_the_negative_prompt_is_not_checked(prompt_filter: PromptFilter) -> None:
    verdict = prompt_filter.check("a woman in a red dress", negative="nsfw, nude, gore")
    assert verdict.allowed


def test_mature_terms_depend_on_the_channel_and_the_guild(prompt_filter: PromptFilter) -> None:
    prompt = "a nude figure study, gore"
    assert not prompt_filter.check(prompt).allowed
    not_allowed_by_guild = prompt_filter.check(prompt, channel=ChannelFlags(nsfw=True))
    assert not not_allowed_by_guild.allowed
    channel, guild = NSFW_OK
    verdict = prompt_filter.check(prompt, channel=channel, guild=guild)
    assert verdict.allowed
    assert verdict.categories == ["sexual", "violence-gore"]  # still reported


def test_hate_and_self_harm_are_blocked_even_where_nsfw_is_allowed(
    prompt_filter: PromptFilter,
) -> None:
    channel, guild = NSFW_OK
    for prompt, category in (("k1ll y0urself", "self-harm"), ("a f4gg0t", "hate")):
        verdict = prompt_filter.check(prompt, channel=channel, guild=guild)
        assert not verdict.allowed and verdict.blocking == [category]


def test_a_minor_alone_is_fine(prompt_filter: PromptFilter) -> None:
    verdict = prompt_filter.check("children flying kites on a hill")
    assert verdict.allowed and verdict.categories == ["minors"]


@pytest.mark.parametrize(
    "prompt", ["nud3 t33n", "n.a.k.e.d 12 yo girl", "a loli, lewd", "sexy child, topless"]
)
def test_absolute_rule_blocks_sexual_with_minor_everywhere(
    prompt_filter: PromptFilter, prompt: str
) -> None:
    channel, guild = NSFW_OK
    guild = guild.model_copy(update={"exemptions": ("nude", "naked", "lewd", "topless")})
    verdict = prompt_filter.check(prompt, channel=channel, guild=guild)
    assert not verdict.allowed
    assert verdict.absolute
    assert verdict.blocking == ["sexual", "minors"]
    assert "minor" in verdict.reason


def test_shipped_exemptions_keep_innocent_phrases_but_only_where_they_are(
    prompt_filter: PromptFilter,
) -> None:
    assert prompt_filter.check("stars seen with the naked eye").allowed
    assert not prompt_filter.check("stars seen with the naked eye, naked woman").allowed
    assert prompt_filter.check("a kid goat, nude lipstick").allowed  # neither a minor nor nudity


def test_guild_terms_and_exemptions(prompt_filter: PromptFilter) -> None:
    guild = GuildSafety(
        terms=(
            validate_guild_term("season finale", False),
            validate_guild_term(r"\bep(isode)? ?\d+\b", True),
        ),
        exemptions=("gore",),
    )
    verdict = prompt_filter.check("s e a s o n finale, episode 5", guild=guild)
    assert not verdict.allowed and verdict.categories == ["guild"]
    assert {m.origin for m in verdict.matches} == {"guild"}
    assert prompt_filter.check("gore horror poster", guild=guild).allowed
    assert not prompt_filter.check("gore horror poster").allowed  # other guilds unchanged


def test_terms_of_every_length_are_found_spelled_out_letter_by_letter(
    prompt_filter: PromptFilter,
) -> None:
    # "spoilers" is as long as shipped terms are; the 26-letter one is longer than any of them.
    guild = GuildSafety(
        terms=(
            validate_guild_term("spoilers", False),
            validate_guild_term("thequickbrownfoxjumpsovers", False),
        )
    )
    for word in ("spoilers", "thequickbrownfoxjumpsovers"):
        spaced = " ".join(word)
        verdict = prompt_filter.check(f"a castle, x {spaced} y", guild=guild)
        assert not verdict.allowed and [m.term for m in verdict.matches] == [word]
    assert prompt_filter.check("a castle, t h e q u i c k b r o w n", guild=guild).allowed


def test_a_slow_stored_pattern_times_out_and_blocks_instead_of_hanging() -> None:
    prompt_filter = PromptFilter(SafetyConfig(regex_timeout_ms=20))
    slow = GuildTerm(text="(a|aa)+b", regex=True)  # as if stored before validation existed
    started = time.perf_counter()
    verdict = prompt_filter.check("a" * 60, guild=GuildSafety(terms=(slow,)))
    assert time.perf_counter() - started < 5
    assert not verdict.allowed and "too long" in verdict.reason


def test_a_megabyte_prompt_is_refused_quickly(prompt_filter: PromptFilter) -> None:
    verdict = prompt_filter.check("castle " * 150_000)  # 1.05 MB
    assert not verdict.allowed and "characters" in verdict.reason
    assert verdict.seconds < 1


def test_a_long_prompt_is_read_to_the_end(prompt_filter: PromptFilter) -> None:
    verdict = prompt_filter.check("a b c castle, " * 7000 + "n u d e")  # 98,000 characters
    assert not verdict.allowed and verdict.categories == ["sexual"]


async def test_check_async_gives_the_same_verdict(prompt_filter: PromptFilter) -> None:
    prompt = "a h3ntai poster"
    off_loop = await prompt_filter.check_async(prompt)
    on_loop = prompt_filter.check(prompt)
    assert off_loop.model_dump(exclude={"seconds"}) == on_loop.model_dump(exclude={"seconds"})
    assert not off_loop.allowed


def test_an_instance_term_file_extends_the_shipped_list(tmp_path: Path) -> None:
    path = tmp_path / "instance.toml"
    path.write_text('exempt = ["gore"]\n[hate]\nterms = ["meanie"]\n', encoding="utf-8")
    prompt_filter = PromptFilter(SafetyConfig(terms_file=path))
    verdict = prompt_filter.check("a m3anie")
    assert not verdict.allowed and verdict.matches[0].origin == "instance"
    assert prompt_filter.check("gore poster").allowed  # exempt for this instance
    assert not prompt_filter.check("nude gore child").allowed  # not the absolute rule


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gets_a_verdict(prompt: str) -> None:
    verdict = _FILTER.check(prompt)
    assert verdict.allowed == (not verdict.blocking)


@pytest.mark.parametrize(
    ("prompt", "minor"),
    [
        ("a 12-year-old", True),
        ("a 15yo", True),
        ("aged 9", True),
        ("a 30 year old woman", False),
        ("2 years of practice", False),
        ("1girl, 8k", False),
    ],
)
def test_ages_under_18_indicate_a_minor(
    prompt_filter: PromptFilter, prompt: str, minor: bool
) -> None:
    assert ("minors" in prompt_filter.check(prompt).categories) == minor
