"""``/imagine`` and ``muralist imagine`` plan with the same code: the same options give the same
request through both front ends (the bot over the loopback Discord, the CLI in-process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.config import Settings
from generation.requests import GenerationRequest
from loopback import LoopbackDiscord
from tests.bot.harness import RunningBot

OPTION_SETS: list[dict[str, Any]] = [
    {"prompt": "a lighthouse at dusk", "seed": 5, "count": 1},
    {"prompt": "a (red:1.3) fox, [blurry]", "seed": 6, "count": 2, "negative": "text, watermark"},
    {"prompt": "a {red|blue|green} car BREAK at night", "seed": 7, "count": 4},
    {"prompt": "a [cat:dog:1] on a sofa", "seed": 8, "count": 1, "steps": 3, "cfg": 4.5},
    {"prompt": "a castle", "seed": 9, "count": 1, "style": "watercolor", "aspect": "16:9"},
    {"prompt": "a boat", "seed": 10, "count": 1, "scheduler": "Euler a", "aspect": "2:3"},
    {"prompt": "a boat", "seed": 11, "count": 1, "model": "tiny-xl"},
    {
        "prompt": "a portrait",
        "seed": 12,
        "count": 1,
        "medium": "oil painting",
        "lighting": "golden hour",
        "composition": "close-up",
        "details": "freckles",
    },
]


def _cli_arguments(options: dict[str, Any]) -> list[str]:
    arguments = [options["prompt"]]
    for name, value in options.items():
        if name != "prompt":
            arguments += [f"--{name}", str(value)]
    return arguments


def _cli_request(options: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> GenerationRequest:
    """The request ``muralist imagine`` would paint (stopped before painting)."""
    seen: list[GenerationRequest] = []

    def capture(engine: object, request: GenerationRequest) -> None:
        seen.append(request)
        raise KeyboardInterrupt  # stop here: the request is all this test needs

    monkeypatch.setattr("bot.cli.generation_commands._generate_with_progress", capture)
    assert main(["imagine", *_cli_arguments(options)]) == 130
    [request] = seen
    return request


@pytest.mark.slow
async def test_the_same_options_give_the_same_request_in_discord_and_on_the_cli(
    loopback: LoopbackDiscord,
    bot: RunningBot,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for name, value in {
        "MURALIST_ENGINE__CACHE_DIR": str(tmp_path / "cli-models"),
        "MURALIST_ENGINE__DEVICE": "cpu",
        "MURALIST_ENGINE__DEFAULT_STEPS": str(settings.engine.default_steps),
        "MURALIST_DISCORD__IMAGE_SIDE": str(settings.discord.image_side),
        "MURALIST_QUEUE__DB_PATH": str(tmp_path / "cli.db"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MURALIST_CONFIG", raising=False)
    # The CLI's first: two model loads in one process at once race in accelerate's
    # empty-weights patching (a bot and a CLI never share a process outside this test).
    on_cli = [_cli_request(options, monkeypatch) for options in OPTION_SETS]
    for number, (options, planned) in enumerate(zip(OPTION_SETS, on_cli, strict=True)):
        user = loopback.add_user(f"member{number}")  # one each: the per-member cap is 3
        before = {j.id for j in bot.studio.queue.store.by_status(*_all())}
        asked = await loopback.slash("imagine", options, user=user)
        await loopback.wait_for(
            lambda before=before, asked=asked: (
                bool(asked.followup_ids)
                or len(bot.studio.queue.store.by_status(*_all())) > len(before)
            )
        )
        assert not asked.followup_ids, loopback.followups(asked)[0].content
        [job] = [j for j in bot.studio.queue.store.by_status(*_all()) if j.id not in before]
        in_discord = job.request.model_dump(exclude={"request_id"})
        assert in_discord == planned.model_dump(exclude={"request_id"}), options


def _all() -> tuple[Any, ...]:
    from generation.queue import JobStatus

    return tuple(JobStatus)
