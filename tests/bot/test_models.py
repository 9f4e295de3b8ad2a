"""Every family, LoRA and draft through /imagine in the loopback Discord, and the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from generation.png import parse_parameters, read_parameters
from loopback import FakeUser, LoopbackDiscord, StoredMessage
from tests.bot.harness import RunningBot


def _done(message: StoredMessage) -> bool:
    if message.content.startswith("❌"):
        raise AssertionError(message.content)
    return bool(message.embeds) and bool(message.components)


def _fields(message: StoredMessage) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message.embeds[0]["fields"]}


def _settings(message: StoredMessage, index: int = 1) -> dict[str, str]:
    text = read_parameters(message.attachments[index].data) or ""
    return parse_parameters(text).settings


async def _imagine(loopback: LoopbackDiscord, user: FakeUser, **options: object) -> StoredMessage:
    values: dict[str, object] = {"prompt": "a red fox", "seed": 3, "count": 1, "steps": 2}
    values.update(options)
    values = {key: value for key, value in values.items() if value is not None}
    record = await loopback.slash("imagine", values, user=user)
    return await loopback.wait_original(record, _done)


@pytest.mark.parametrize(
    ("options", "sampler"),
    [
        ({"model": "tiny-flux", "guidance": 2.5}, "Euler"),
        ({"model": "tiny-sd3", "negative": "blurry"}, "Euler"),
        ({"model": "tiny-xl", "lora": "tiny-xl-lora:0.5"}, "Euler"),
        ({"model": "tiny", "prompt": "a red fox <lora:tiny-lora:0.7>, <tiny-style>"}, None),
    ],
)
async def test_each_family_and_lora_paints_through_imagine(
    loopback: LoopbackDiscord, bot: RunningBot, options: dict[str, object], sampler: str | None
) -> None:
    result = await _imagine(loopback, loopback.add_user("ann"), **options)
    settings = _settings(result, 0)
    assert settings["Model"] == options["model"]
    if sampler:
        assert settings["Sampler"] == sampler
    if options["model"] == "tiny-flux":
        assert settings["Distilled CFG Scale"] == "2.5"
    if "lora" in str(options):
        assert "LoRAs" in _fields(result) and "LoRAs" in settings
        assert "lora" not in result.embeds[0]["description"]


async def test_a_negative_on_flux_is_left_out_and_the_member_told(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    user = loopback.add_user("neg")
    record = await loopback.slash(
        "imagine",
        {"prompt": "a fox", "model": "tiny-flux", "negative": "blurry", "cfg": 5.0, "count": 1,
         "steps": 2},
        user=user,
    )  # fmt: skip
    result = await loopback.wait_original(record, _done)
    assert "Negative" not in _fields(result)
    edits = [s for s in loopback.transcript if s.kind == "edit_original"]
    said = " ".join(str((s.payload or {}).get("content", "")) for s in edits)
    assert "take no negative prompt" in said and "no CFG scale" in said


async def test_a_draft_and_its_u_button_repaint_with_the_full_model(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    user = loopback.add_user("drafter")
    draft = await _imagine(loopback, user, model="tiny-xl", draft=True, count=2, steps=None)
    assert _fields(draft)["Model"] == "tiny-xl-lightning"
    record = await loopback.click(draft, draft.button("U2"), user=user)
    full = await loopback.wait_original(record, _done)
    assert full.embeds[0]["title"] == "Repainted by the full model"
    fields = _fields(full)
    assert fields["Model"] == "tiny-xl" and fields["Seed"] == "4"
    with Image.open(io.BytesIO(full.attachments[0].data)) as picture:
        assert picture.size == (64, 64)


async def test_an_unknown_lora_is_a_clear_message(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    record = await loopback.slash(
        "imagine", {"prompt": "a fox", "lora": "nope"}, user=loopback.add_user("x")
    )
    await loopback.wait_for(lambda: bool(record.followup_ids))
    [reply] = loopback.followups(record)
    assert reply.ephemeral and "unknown LoRA 'nope'" in reply.content and "lora" in reply.content


async def test_lora_autocomplete_offers_the_catalogs_loras(
    loopback: LoopbackDiscord, bot: RunningBot
) -> None:
    choices = await loopback.autocomplete(
        "imagine", {"prompt": "a", "lora": "flux"}, "lora", user=loopback.add_user("y")
    )
    assert [c["value"] for c in choices] == ["tiny-flux-lora"]


@pytest.fixture
def cli_env(tiny_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MURALIST_ENGINE__CACHE_DIR", str(tiny_cache))
    monkeypatch.setenv("MURALIST_ENGINE__DEVICE", "cpu")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("MURALIST_CONFIG", raising=False)


@pytest.mark.parametrize(
    ("args", "model", "loras"),
    [
        (["--model", "tiny-flux", "--guidance", "2"], "tiny-flux", []),
        (["--model", "tiny-sd3", "--lora", "tiny-sd3-lora:0.5"], "tiny-sd3", ["tiny-sd3-lora"]),
        (["--model", "tiny-flux", "--draft"], "tiny-flux-schnell", []),
        (["--model", "tiny", "--draft"], "tiny-lcm", []),
    ],
)
def test_the_cli_paints_every_family_lora_and_draft(
    cli_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    model: str,
    loras: list[str],
) -> None:
    from bot.cli import main

    code = main(["imagine", "a fox", "--size", "64x64", "--json", "--out", str(tmp_path), *args])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == model and [lora["name"] for lora in report["loras"]] == loras
    assert Image.open(report["paths"][0]).size == (64, 64)


def test_the_cli_says_why_flux_refuses_a_sampler(
    cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    code = main(["imagine", "a fox", "--model", "tiny-flux", "--scheduler", "DPM++ 2M",
                 "--out", str(tmp_path)])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "scheduler" in err and "Euler only" in err and "Traceback" not in err
