"""The policy table, row by row, and its invariants over every combination."""

from __future__ import annotations

import itertools

import pytest

from safety.images import ImageStatus, ImageVerdict
from safety.models import ChannelFlags, GuildSafety, SfwAction
from safety.policy import decide
from safety.prompt_filter import ABSOLUTE_REASON, PromptVerdict

ALLOWED = PromptVerdict(
    allowed=True, categories=[], matches=[], blocking=[], absolute=False, reason="", normalized=""
)
BLOCKED = ALLOWED.model_copy(
    update={"allowed": False, "blocking": ["hate"], "reason": "This prompt is not allowed here"}
)
ABSOLUTE = ALLOWED.model_copy(
    update={
        "allowed": False,
        "blocking": ["sexual", "minors"],
        "absolute": True,
        "reason": ABSOLUTE_REASON,
    }
)
PROMPTS = {"allowed": ALLOWED, "blocked": BLOCKED, "absolute": ABSOLUTE}
STATUSES: tuple[ImageStatus, ...] = ("safe", "flagged", "unchecked")


def image(status: ImageStatus, index: int = 0) -> ImageVerdict:
    reasons = {"safe": [], "flagged": ["FEMALE_BREAST_EXPOSED 0.90 ≥ 0.45"], "unchecked": ["junk"]}
    return ImageVerdict(index=index, status=status, reasons=reasons[status])


# (image, channel nsfw, guild allows nsfw there, sfw_action) → (action, log)
FLAGGED_TABLE = [
    ("flagged", False, False, "withhold", "withhold", True),
    ("flagged", False, False, "blur_spoiler", "post_blurred", True),
    ("flagged", False, True, "withhold", "withhold", True),
    ("flagged", False, True, "blur_spoiler", "post_blurred", True),
    ("flagged", True, False, "withhold", "withhold", True),
    ("flagged", True, False, "blur_spoiler", "post_blurred", True),
    ("flagged", True, True, "withhold", "post", False),
    ("flagged", True, True, "blur_spoiler", "post", False),
]
OTHER_TABLE = [
    (status, nsfw, allow, action, expected, status == "unchecked")
    for status in ("safe", "unchecked")
    for nsfw, allow in itertools.product((False, True), repeat=2)
    for action in ("withhold", "blur_spoiler")
    for expected in (("post" if status == "safe" else "withhold"),)
]


@pytest.mark.parametrize("approval", [False, True])
@pytest.mark.parametrize(
    ("status", "nsfw", "allow", "sfw_action", "action", "log"), FLAGGED_TABLE + OTHER_TABLE
)
def test_policy_table_for_an_allowed_prompt(
    status: ImageStatus,
    nsfw: bool,
    allow: bool,
    sfw_action: SfwAction,
    action: str,
    log: bool,
    approval: bool,
) -> None:
    decision = decide(
        ALLOWED,
        [image(status)],
        ChannelFlags(nsfw=nsfw, approval=approval),
        GuildSafety(sfw_action=sfw_action, allow_nsfw_in_age_restricted=allow),
    )
    (result,) = decision.images
    assert result.action == action
    assert result.log == log == decision.log
    assert result.needs_approval == (approval and action != "withhold")
    assert bool(result.reason) == (action != "post")
    assert not decision.absolute


@pytest.mark.parametrize(
    ("prompt", "status", "nsfw", "allow", "sfw_action", "approval"),
    list(
        itertools.product(
            ("blocked", "absolute"),
            STATUSES,
            (False, True),
            (False, True),
            ("withhold", "blur_spoiler"),
            (False, True),
        )
    ),
)
def test_a_refused_prompt_withholds_everything(
    prompt: str,
    status: ImageStatus,
    nsfw: bool,
    allow: bool,
    sfw_action: SfwAction,
    approval: bool,
) -> None:
    verdict = PROMPTS[prompt]
    decision = decide(
        verdict,
        [image(status)],
        ChannelFlags(nsfw=nsfw, approval=approval),
        GuildSafety(sfw_action=sfw_action, allow_nsfw_in_age_restricted=allow),
    )
    (result,) = decision.images
    assert result.action == "withhold" and result.log and decision.log
    assert not result.needs_approval
    assert result.reason == verdict.reason
    assert decision.absolute == (prompt == "absolute")


def test_each_image_of_a_result_gets_its_own_decision() -> None:
    decision = decide(
        ALLOWED,
        [image("safe", 0), image("flagged", 1), image("unchecked", 2), image("safe", 3)],
        ChannelFlags(),
        GuildSafety(sfw_action="blur_spoiler"),
    )
    assert [d.action for d in decision.images] == ["post", "post_blurred", "withhold", "post"]
    assert [d.index for d in decision.images] == [0, 1, 2, 3]
    assert decision.withheld == [2]
    assert decision.log
    assert "could not be checked" in decision.images[2].reason
