"""The policy: a pure function from verdicts, channel and guild settings to what people see.

Per image, in this order (the first rule that applies wins):

| prompt / image verdict            | channel allows mature* | sfw_action    | action       | log |
| --------------------------------- | ---------------------- | ------------- | ------------ | --- |
| prompt hit the absolute rule      | any                    | any           | withhold     | yes |
| prompt not allowed here           | any                    | any           | withhold     | yes |
| image unchecked (fail closed)     | any                    | any           | withhold     | yes |
| image flagged                     | yes                    | any           | post         | no  |
| image flagged                     | no                     | withhold      | withhold     | yes |
| image flagged                     | no                     | blur_spoiler  | post_blurred | yes |
| image safe                        | any                    | any           | post         | no  |

*mature: the channel is age-restricted (``channel.nsfw``) and the guild allows NSFW there.
In approval mode every image that would be posted (blurred or not) goes to the moderators first
(``needs_approval``); withheld images stay withheld.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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


def _decide_image(
    prompt: PromptVerdict, image: ImageVerdict, channel: ChannelFlags, guild: GuildSafety
) -> tuple[Action, bool, str]:
    if prompt.absolute or not prompt.allowed:  # absolute implies not allowed; both checked
        return "withhold", True, prompt.reason
    if image.status == "unchecked":
        return "withhold", True, "The image could not be checked: " + "; ".join(image.reasons)
    if image.status == "flagged":
        why = "; ".join(image.reasons)
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
) -> Decision:
    """What to do with each image of one result, and whether the moderators hear of it."""
    decisions = []
    for image in images:
        action, log, reason = _decide_image(prompt, image, channel, guild)
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
