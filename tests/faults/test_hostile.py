"""A table of hostile interactions: forged options, custom_ids and forms, each answered with one
clear ephemeral message naming what was wrong; no generic error, no unanswered interaction, no
traceback in the log.

The payloads are sent as given (``LoopbackDiscord.forge``): Discord's clients check options
against the declared command, but a stale client, a proxy or a forgery can deliver anything, and
discord.py hands such values to the command as they came.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from generation.queue import JobStatus
from loopback import FakeUser, Interaction, LoopbackDiscord, StoredMessage
from tests.bot.cogs.helpers import answer
from tests.bot.harness import RunningBot
from tests.faults.checks import assert_every_interaction_answered

STRING, INTEGER, BOOLEAN, USER, NUMBER = 3, 4, 5, 6, 10
UNKNOWN_JOB = "0123456789abcdef0123456789abcdef"


@dataclass
class World:
    loopback: LoopbackDiscord
    user: FakeUser
    result: StoredMessage
    job_id: str

    def command(self, name: str) -> dict[str, Any]:
        return self.loopback.command(name)


Send = Callable[[World], Awaitable[Interaction]]


@dataclass(frozen=True)
class Case:
    name: str
    send: Send
    expect: str
    """Text the (ephemeral) answer must contain; "choices" for autocomplete."""


def slash(command: str, options: Any, **data: Any) -> Send:
    async def send(world: World) -> Interaction:
        declared = world.command(command)
        payload = {"id": declared["id"], "name": command, "type": 1, "options": options}
        payload |= {"guild_id": declared.get("guild_id")} | data
        return await world.loopback.forge(2, payload, user=world.user)

    return send


def imagine(*options: dict[str, Any], prompt: bool = True) -> Send:
    given = [{"name": "prompt", "type": STRING, "value": "a cat"}] if prompt else []
    return slash("imagine", given + list(options))


def opt(name: str, kind: int, value: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "value": value}


def click(custom_id: str, *, planted: bool = True, component_type: int = 2) -> Send:
    """A click on ``custom_id``: on a message carrying it (``planted``) or on the real result
    (which does not carry it)."""

    async def send(world: World) -> Interaction:
        message = world.result
        if planted:
            button = {"type": 2, "style": 2, "label": "old", "custom_id": custom_id}
            row = {"type": 1, "components": [button]}
            message = world.loopback.plant("art", {"content": "old", "components": [row]})
        data = {"custom_id": custom_id, "component_type": component_type}
        return await world.loopback.forge(3, data, user=world.user, message=message)

    return send


def form(
    custom_id: str | Callable[[World], str], values: dict[str, Any] | None = None, **raw: Any
) -> Send:
    async def send(world: World) -> Interaction:
        name = custom_id(world) if callable(custom_id) else custom_id
        rows = [
            {"type": 18, "component": {"type": 4, "custom_id": key, "value": value}}
            for key, value in (values or {}).items()
        ]
        data = {"custom_id": name, "components": rows} | raw
        return await world.loopback.forge(5, data, user=world.user, message=world.result)

    return send


def complete(command: str, options: list[dict[str, Any]]) -> Send:
    async def send(world: World) -> Interaction:
        declared = world.command(command)
        payload = {"id": declared["id"], "name": command, "type": 1, "options": options}
        payload["guild_id"] = declared.get("guild_id")
        return await world.loopback.forge(4, payload, user=world.user)

    return send


def remix(world: World) -> str:
    return f"muralist:remix_modal:{world.job_id}"


def settings_form(world: World) -> str:
    return f"muralist:settings_modal:{world.job_id}"


def cases() -> list[Case]:
    table: list[Case] = []

    def add(name: str, send: Send, expect: str) -> None:
        table.append(Case(name, send, expect))

    # Numbers out of the declared ranges.
    for value in (0, -1, 5, 99, 10**6, 2**53 + 1, -(2**60)):
        add(f"count {value}", imagine(opt("count", INTEGER, value)), "`count`")
    for value in (0, -5, 151, 10**9, 2**62):
        add(f"steps {value}", imagine(opt("steps", INTEGER, value)), "`steps`")
    for value in (-1, 2**32, 2**53, -(2**40)):
        add(f"seed {value}", imagine(opt("seed", INTEGER, value)), "`seed`")
    for value in (-0.1, 30.01, 1e308, -1e308, math.inf, -math.inf, math.nan, 1e-300 - 1):
        add(f"cfg {value}", imagine(opt("cfg", NUMBER, value)), "`cfg`")
    # Values of another type than declared.
    wrong_types: list[tuple[str, int, Any]] = [
        ("count", STRING, "four"),
        ("count", NUMBER, 2.5),
        ("count", BOOLEAN, True),
        ("count", INTEGER, "4"),
        ("count", INTEGER, 2.0),
        ("count", INTEGER, True),
        ("count", INTEGER, None),
        ("count", INTEGER, [1]),
        ("steps", STRING, "20"),
        ("steps", INTEGER, {"value": 20}),
        ("seed", NUMBER, 1.5),
        ("seed", INTEGER, "0x10"),
        ("cfg", STRING, "7"),
        ("cfg", NUMBER, "seven"),
        ("cfg", BOOLEAN, False),
        ("cfg", NUMBER, None),
        ("style", INTEGER, 3),
        ("negative", BOOLEAN, True),
        ("model", NUMBER, 1.0),
        ("aspect", USER, "123"),
        ("scheduler", STRING, None),
        ("details", STRING, ["x"]),
    ]
    for name, kind, value in wrong_types:
        add(f"{name} as {kind}:{value!r}", imagine(opt(name, kind, value)), f"`{name}`")
    for kind, value in ((INTEGER, 5), (STRING, None), (BOOLEAN, True), (STRING, ["a"])):
        add(
            f"prompt as {kind}:{value!r}",
            imagine(opt("prompt", kind, value), prompt=False),
            "`prompt`",
        )
    # Lengths past the declaration.
    for length in (1501, 1999, 6000):
        add(
            f"prompt of {length}",
            imagine(opt("prompt", STRING, "x" * length), prompt=False),
            "`prompt`",
        )
    add("empty prompt", imagine(opt("prompt", STRING, ""), prompt=False), "`prompt`")
    add("negative of 1999", imagine(opt("negative", STRING, "y" * 1999)), "`negative`")
    for name in (
        "style",
        "medium",
        "lighting",
        "composition",
        "details",
        "aspect",
        "scheduler",
        "model",
    ):
        add(f"{name} of 101", imagine(opt(name, STRING, "z" * 101)), f"`{name}`")
    # Unknown, duplicated and missing options, malformed option lists.
    for name in ("bogus", "Prompt", "prompt ", "__proto__", "count_", "nsfw"):
        add(f"unknown option {name!r}", imagine(opt(name, STRING, "1")), f"`{name}`")
    add("count twice", imagine(opt("count", INTEGER, 1), opt("count", INTEGER, 2)), "`count`")
    add("no prompt", imagine(opt("count", INTEGER, 1), prompt=False), "`prompt`")
    add("options null", slash("imagine", None), "`options`")

    async def no_options(world: World) -> Interaction:
        declared = world.command("imagine")
        data = {"id": declared["id"], "name": "imagine", "type": 1}
        return await world.loopback.forge(
            2, data | {"guild_id": declared.get("guild_id")}, user=world.user
        )

    add("no options at all", no_options, "`prompt`")
    add("options not a list", slash("imagine", "prompt=cat"), "`options`")
    add("an option not an object", slash("imagine", ["prompt"]), "`options`")
    add("an option without a name", slash("imagine", [{"type": 3, "value": "x"}]), "`options`")
    # Values in range that studio refuses, each before any job is queued.
    add("unknown model", imagine(opt("model", STRING, "sd-ultra")), "`model`")
    add("hub model not downloaded", imagine(opt("model", STRING, "sd15")), "`model`")
    add("unknown scheduler", imagine(opt("scheduler", STRING, "Nope")), "`scheduler`")
    add("unknown aspect", imagine(opt("aspect", STRING, "5:1")), "`aspect`")
    add("aspect nonsense", imagine(opt("aspect", STRING, "a:b")), "`aspect`")
    add("unknown style", imagine(opt("style", STRING, "no-such-style")), "`style`")
    deep = "(" * 8 + "cat" + ")1.1" * 8
    add("deep compel nesting", imagine(opt("prompt", STRING, deep), prompt=False), "`prompt`")
    add(
        "deep nesting in the negative",
        imagine(opt("negative", STRING, "(" * 6 + "x" + ")+" * 6)),
        "`negative`",
    )
    add("only brackets", imagine(opt("prompt", STRING, "(((())))"), prompt=False), "`prompt`")
    add("only spaces", imagine(opt("prompt", STRING, "    "), prompt=False), "`prompt`")
    # Other commands.
    for value in (0, 101, -3, 2**40):
        add(f"/styles page {value}", slash("styles", [opt("page", INTEGER, value)]), "`page`")
    add("/styles page as text", slash("styles", [opt("page", STRING, "two")]), "`page`")
    add(
        "/cancel an unknown job",
        slash("cancel", [opt("job", STRING, "f" * 32)]),
        "no longer stored",
    )
    add("/cancel a huge id", slash("cancel", [opt("job", STRING, "x" * 5000)]), "no longer stored")
    add("/help with an option", slash("help", [opt("verbose", BOOLEAN, True)]), "`verbose`")
    add("/info with an option", slash("info", [opt("all", BOOLEAN, True)]), "`all`")
    add("/queue with an option", slash("queue", [opt("user", USER, "1")]), "`user`")
    add("unknown command", slash("imagine", [], name="imagine2"), "reload Discord")
    add(
        "subcommand of a plain command",
        slash("imagine", [{"name": "paint", "type": 1, "options": []}]),
        "reload Discord",
    )
    # Buttons the bot never sent, or sent by another version of it.
    for custom_id in (
        "evil",
        "x" * 100,
        "muralist:",
        "muralist:reroll",
        "muralist:reroll:not-a-job-id",
        "muralist:sparkle:" + UNKNOWN_JOB,
        "muralist:upscale:" + UNKNOWN_JOB + ":9",
        "mlog:explode:1:-:0",
        "mstyles:x:next",
        "v1:imagine:reroll:" + UNKNOWN_JOB,
    ):
        add(f"button {custom_id[:30]!r}", click(custom_id), "no longer handles")
    add(
        "button on a message without it",
        click(f"muralist:reroll:{UNKNOWN_JOB}", planted=False),
        "no longer handles",
    )
    add(
        "a select menu with a button's id",
        click(f"muralist:reroll:{UNKNOWN_JOB}", component_type=3),
        "no longer handles",
    )
    for action in ("reroll", "vary_subtle", "upscale", "remix", "delete", "report"):
        suffix = ":0" if action in ("vary_subtle", "upscale") else ""
        add(
            f"{action} of an unknown job",
            click(f"muralist:{action}:{UNKNOWN_JOB}{suffix}"),
            "no longer stored",
        )
    add("moderator button by a member", click("mlog:dismiss:1:-:0"), "🚫")
    add("ban button by a member", click(f"mlog:ban:1:{UNKNOWN_JOB}:42"), "🚫")
    # Forms the bot never showed, or filled with hostile values.
    add("unknown form", form("evil:form", {"prompt": "x"}), "no longer handles")
    add(
        "remix of an unknown job",
        form(f"muralist:remix_modal:{UNKNOWN_JOB}", {"prompt": "x"}),
        "no longer stored",
    )
    add("remix with no fields", form(remix), "`prompt`")
    add("remix with an empty prompt", form(remix, {"prompt": ""}), "`prompt`")
    add("remix with deep nesting", form(remix, {"prompt": deep}), "`prompt`")
    add("remix with 20000 characters", form(remix, {"prompt": "w" * 20_000}), "`prompt`")
    add("remix with a number for text", form(remix, {"prompt": 12}), "`prompt`")
    add("remix with malformed rows", form(remix, None, components="rows"), "`prompt`")
    add(
        "settings of an unknown job",
        form(f"muralist:settings_modal:{UNKNOWN_JOB}", {"steps": "2"}),
        "no longer stored",
    )
    add("settings with steps 'lots'", form(settings_form, {"steps": "lots"}), "`steps`")
    add("settings with steps 0", form(settings_form, {"steps": "0"}), "`steps`")
    add("settings with cfg 'nan'", form(settings_form, {"cfg": "nan"}), "`cfg`")
    add("settings with cfg 1e9", form(settings_form, {"cfg": "1e9"}), "`cfg`")
    add("settings with seed -1", form(settings_form, {"seed": "-1"}), "`seed`")
    add("settings with a long prompt", form(settings_form, {"prompt": "p" * 1999}), "`prompt`")
    add("ban form by a member", form("mlog:banmodal:42", {"duration": "1d", "reason": "x"}), "🚫")
    add(
        "ban form of a bad user id",
        form("mlog:banmodal:notanumber", {"reason": "x"}),
        "no longer handles",
    )
    # Autocomplete with hostile values: answered with choices (possibly none), never an error.
    for value in (5, None, "x" * 5000, ["a"]):
        options = [{"name": "prompt", "type": STRING, "value": "a"}]
        options.append({"name": "model", "type": STRING, "value": value, "focused": True})
        add(f"autocomplete model {value!r:.20}", complete("imagine", options), "choices")
    add(
        "autocomplete of an unknown option",
        complete("imagine", [{"name": "bogus", "type": STRING, "value": "", "focused": True}]),
        "choices",
    )
    return table


async def test_every_hostile_interaction_gets_one_clear_ephemeral_answer(
    loopback: LoopbackDiscord, bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    table = cases()
    assert len(table) >= 100
    user = loopback.add_user("mallory")
    first = await loopback.slash("imagine", {"prompt": "a harbour", "count": 1}, user=user)
    result = await loopback.wait_original(first, lambda m: bool(m.embeds and m.components))
    world = World(loopback, user, result, result.embeds[0]["footer"]["text"].removeprefix("job "))
    caplog.set_level(logging.INFO)
    problems: list[str] = []
    for case in table:
        caplog.clear()
        record = await case.send(world)
        if case.expect == "choices":
            await loopback.wait_for(lambda r=record: r.choices is not None, 10)
            continue
        told = await answer(loopback, record)
        text = told.content
        if not told.ephemeral:
            problems.append(f"{case.name}: not ephemeral: {text!r}")
        elif case.expect not in text:
            problems.append(f"{case.name}: expected {case.expect!r} in {text!r}")
        elif "Something went wrong" in text:
            problems.append(f"{case.name}: the generic error")
        noisy = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
        if noisy:
            problems.append(f"{case.name}: logged {noisy[0].getMessage()!r} {noisy[0].exc_info}")
    assert not problems, f"{len(problems)} of {len(table)}:\n" + "\n".join(problems)
    assert_every_interaction_answered(loopback)
    # No hostile payload made a job: the only one is the harbour.
    assert len(bot.studio.queue.store.by_status(*JobStatus)) == 1
