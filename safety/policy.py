"""The policy: a pure function from verdicts, channel and guild settings to what people see.

Per image, in this order (the first rule that applies wins):

| prompt / image verdict              | mature OK* | sfw_action   | action       | log |
| ----------------------------------- | ---------- | ------------ | ------------ | --- |
| prompt hit the absolute rule        | any        | any          | withhold     | yes |
| prompt not allowed here             | any        | any          | withhold     | yes |
| image unchecked (fail closed)       | any        | any          | withhold     | yes |
| image flagged, prompt names a minor | any        | any          | withhold     | yes |
| image flagged                       | yes        | any          | post         | no  |
| image flagged                       | no         | withhold     | withhold     | yes |
| image flagged                       | no         | blur_spoiler | post_blurred | yes |
| image safe                          | any        | any          | post         | no  |

*mature OK: the channel is age-restricted (``channel.nsfw``) and the guild allows NSFW there.
"Flagged" is the image classifier's verdict or the model's own safety checker's
(``GeneratedImage.model_nsfw``, passed as ``model_nsfw``): either one is enough.
In approval mode every image that would be posted (blurred or not) goes to the moderators first
(``needs_approval``); withheld images stay withheld.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from safety.errors import InvalidSafetyInput
from safety.images import ImageVerdict
from safety.models import ChannelFlags, GuildSafety, mature_allowed
from safety.prompt_filter import PromptVerdict

Action = Literal["post", "post_blurred", "withhold"]


class ImageDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    action: Action
    needs_approval: bool = Field(description="Send to the moderators' approval channel first.")
    log: bool = Field(description="Tell the moderation log (and record it).")
    reason: str = Field(description="Why, in a sentence; empty for a plain post.")


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)

    images: list[ImageDecision]
    absolute: bool
    log: bool = Field(description="Whether any part of this result goes to the moderation log.")

    @property
    def withheld(self) -> list[int]:
        return [d.index for d in self.images if d.action == "withhold"]


MODEL_FLAG = "the model's own safety checker flagged it"


def _flags(image: ImageVerdict, model_nsfw: bool | None) -> list[str]:
    """Why an image counts as flagged: the classifier's reasons and the model's own checker."""
    reasons = list(image.reasons) if image.status == "flagged" else []
    if (model_nsfw or image.model_nsfw) and MODEL_FLAG not in reasons:
        reasons.append(MODEL_FLAG)
    return reasons


def _decide_image(
    prompt: PromptVerdict,
    image: ImageVerdict,
    model_nsfw: bool | None,
    channel: ChannelFlags,
    guild: GuildSafety,
) -> tuple[Action, bool, str]:
    if prompt.absolute or not prompt.allowed:  # absolute implies not allowed; both checked
        return "withhold", True, prompt.reason
    if image.status == "unchecked":
        return "withhold", True, "The image could not be checked: " + "; ".join(image.reasons)
    flags = _flags(image, model_nsfw)
    if flags:
        why = "; ".join(flags)
        if prompt.minor:
            return (
                "withhold",
                True,
                f"Flagged as NSFW ({why}) for a prompt that names a minor; withheld everywhere.",
            )
        if mature_allowed(channel, guild):
            return "post", False, ""
        if guild.sfw_action == "blur_spoiler":
            return (
                "post_blurred",
                True,
                f"Flagged as NSFW ({why}); posted blurred behind a spoiler.",
            )
        return "withhold", True, f"Flagged as NSFW ({why}); withheld in this channel."
    return "post", False, ""


def decide(
    prompt: PromptVerdict,
    images: Sequence[ImageVerdict],
    channel: ChannelFlags,
    guild: GuildSafety,
    model_nsfw: Sequence[bool | None] | None = None,
) -> Decision:
    """What to do with each image of one result, and whether the moderators hear of it.

    ``prompt``: ``PromptFilter.check_many`` over every text that conditioned the images.
    ``model_nsfw``: the model's own safety checker per image (``GeneratedImage.model_nsfw``,
    ``None`` where the model has none), in the order of ``images``.
    """
    flags = list(model_nsfw) if model_nsfw is not None else [None] * len(images)
    if len(flags) != len(images):
        raise InvalidSafetyInput(
            "model_nsfw", f"got {len(flags)} verdicts for {len(images)} images"
        )
    decisions = []
    for image, flag in zip(images, flags, strict=True):
        action, log, reason = _decide_image(prompt, image, flag, channel, guild)
        decisions.append(
            ImageDecision(
                index=image.index,
                action=action,
                needs_approval=channel.approval and action != "withhold",
                log=log,
                reason=reason,
            )
        )
    return Decision(
        images=decisions,
        absolute=prompt.absolute,
        log=prompt.absolute or any(d.log for d in decisions),
    )
