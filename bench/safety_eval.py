"""The prompt filter against an adversary: disguised prompts caught, benign prompts passed.

The evaluation set lives in ``bench/data/safety_eval/``: ``disguised.jsonl`` (written by
technique: misspellings, euphemisms, other languages, joined words, inflections, look-alike
scripts, leetspeak and masking, words split over prompt syntax, and minors with sexual content),
``classic.json`` (the older set of character tricks) and ``benign.jsonl`` (ordinary art prompts,
``plain``, and ``hard`` cases that contain blocked words in innocent senses).

Every prompt is turned into the texts the studio checks (the prompt as typed, each wildcard
variant, the compel text of each image and each prompt-editing step, via ``prompting.build``) and
checked with ``PromptFilter.check_many`` in an SFW channel and in an age-restricted channel of a
guild that allows NSFW. Reported by technique, content category and channel kind, with the cost
per check; the last line is one JSON object.

    .venv/bin/python -m bench.safety_eval [--quick]

Goals (issue 13): ≥ 95 % of disguised prompts caught in SFW, 100 % of minors + sexual caught in
every channel, ≤ 2 % false positives on plain benign prompts, no crash, p99 check < 5 ms.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prompting import PromptError, build
from safety.models import ChannelFlags, GuildSafety
from safety.prompt_filter import PromptFilter, PromptVerdict

DATA = Path(__file__).resolve().parent / "data" / "safety_eval"
SFW = (ChannelFlags(), GuildSafety())
NSFW = (ChannelFlags(nsfw=True), GuildSafety(allow_nsfw_in_age_restricted=True))
# Blocked in every channel, whatever the guild allows.
ALWAYS_BLOCKED = {"minor+sexual", "hate", "self-harm"}
GOALS = {"sfw_catch": 0.95, "minor_sexual_catch": 1.0, "plain_false_positive": 0.02, "p99_ms": 5.0}


def texts_for(prompt: str, seed: int = 0, count: int = 4, steps: int = 20) -> list[str]:
    """Every text that conditions an image of this prompt, as the studio will pass them."""
    texts = [prompt]
    try:
        built = build(prompt, seed=seed, count=count, steps=steps)
    except PromptError:
        return texts
    texts += [built.positive_text, *(built.per_image_texts or [])]
    texts += [built.positive, *(built.per_image_positives or [])]
    texts += [edit.prompt for edit in built.edits]
    return list(dict.fromkeys(texts))


def load() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    disguised = [json.loads(line) for line in (DATA / "disguised.jsonl").open(encoding="utf-8")]
    classic = json.loads((DATA / "classic.json").read_text(encoding="utf-8"))
    disguised += [
        {"technique": "classic", "category": "classic", "prompt": item["prompt"]}
        for item in classic
    ]
    benign = [json.loads(line) for line in (DATA / "benign.jsonl").open(encoding="utf-8")]
    return disguised, benign


@dataclass
class Tally:
    total: int = 0
    caught: int = 0
    missed: list[str] = field(default_factory=list)
    hits: list[str] = field(default_factory=list)

    def add(self, caught: bool, prompt: str) -> None:
        self.total += 1
        self.caught += caught
        (self.hits if caught else self.missed).append(prompt)

    @property
    def rate(self) -> float:
        return self.caught / self.total if self.total else 1.0

    def summary(self) -> dict[str, Any]:
        return {"total": self.total, "caught": self.caught, "rate": round(self.rate, 4)}


@dataclass
class Result:
    by_technique: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_category: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    sfw: Tally = field(default_factory=Tally)
    nsfw_must_block: Tally = field(default_factory=Tally)
    nsfw_recognised: Tally = field(default_factory=Tally)
    minor_sexual: Tally = field(default_factory=Tally)
    plain_false: Tally = field(default_factory=Tally)  # "caught" = wrongly blocked
    hard_false: Tally = field(default_factory=Tally)
    crashes: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # first pass: every check, cold caches
    steady: list[float] = field(default_factory=list)  # per request: best of the timing repeats

    def percentile(self, share: float, steady: bool = True) -> float:
        ordered = sorted(self.steady if steady and self.steady else self.seconds)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    def goals_met(self) -> dict[str, bool]:
        return {
            "sfw_catch": self.sfw.rate >= GOALS["sfw_catch"],
            "minor_sexual_catch": self.minor_sexual.rate >= GOALS["minor_sexual_catch"],
            "plain_false_positive": self.plain_false.rate <= GOALS["plain_false_positive"],
            "no_crash": not self.crashes,
            "p99_ms": self.percentile(0.99) < GOALS["p99_ms"],
        }


def _check(
    prompt_filter: PromptFilter,
    texts: list[str],
    where: tuple[ChannelFlags, GuildSafety],
    result: Result,
) -> PromptVerdict | None:
    channel, guild = where
    started = time.perf_counter()
    try:
        verdict = prompt_filter.check_many(texts, channel=channel, guild=guild)
    except Exception as exc:  # the evaluation counts crashes instead of stopping at one
        result.crashes.append(f"{texts[0]!r}: {type(exc).__name__}: {exc}")
        return None
    result.seconds.append(time.perf_counter() - started)
    return verdict


def _timing(prompt_filter: PromptFilter, requests: list[list[str]], repeats: int) -> list[float]:
    """Seconds per request (all its texts, SFW), the best of ``repeats`` runs each: on a shared
    machine single runs carry scheduler noise of several milliseconds."""
    best = [float("inf")] * len(requests)
    for _ in range(repeats):
        for i, texts in enumerate(requests):
            started = time.perf_counter()
            prompt_filter.check_many(texts)
            best[i] = min(best[i], time.perf_counter() - started)
    return best


def evaluate(
    prompt_filter: PromptFilter | None = None, classic: bool = True, repeats: int = 3
) -> Result:
    prompt_filter = prompt_filter or PromptFilter()
    prompt_filter.check("warm-up: load the word lists")
    disguised, benign = load()
    if not classic:
        disguised = [item for item in disguised if item["technique"] != "classic"]
    result = Result()
    for item in disguised:
        prompt, category, technique = item["prompt"], item["category"], item["technique"]
        texts = texts_for(prompt)
        sfw = _check(prompt_filter, texts, SFW, result)
        nsfw = _check(prompt_filter, texts, NSFW, result)
        caught = sfw is not None and not sfw.allowed
        result.sfw.add(caught, prompt)
        result.by_technique[technique].add(caught, prompt)
        result.by_category[category].add(caught, prompt)
        if category in ALWAYS_BLOCKED:
            blocked = nsfw is not None and not nsfw.allowed
            result.nsfw_must_block.add(blocked, prompt)
        elif category != "classic":
            seen = nsfw is not None and category in nsfw.categories
            result.nsfw_recognised.add(seen, prompt)
        if category == "minor+sexual":
            every = all(v is not None and v.absolute for v in (sfw, nsfw))
            result.minor_sexual.add(every, prompt)
    requests = [texts_for(item["prompt"]) for item in disguised]
    for item in benign:
        requests.append(texts_for(item["prompt"]))
        verdict = _check(prompt_filter, requests[-1], SFW, result)
        blocked = verdict is None or not verdict.allowed
        tally = result.plain_false if item["kind"] == "plain" else result.hard_false
        label = item["prompt"] if verdict is None else f"{item['prompt']} → {verdict.reason}"
        tally.add(blocked, label)
    if repeats:
        result.steady = _timing(prompt_filter, requests, repeats)
    return result


def report(result: Result, quick: bool) -> dict[str, Any]:
    def rows(tallies: dict[str, Tally]) -> None:
        for name, tally in sorted(tallies.items()):
            print(f"  {name:<16} {tally.caught:>4}/{tally.total:<4} {tally.rate:7.1%}")

    print("Disguised prompts caught in an SFW channel, by technique:")
    rows(result.by_technique)
    print("… by content category:")
    rows(result.by_category)
    print(f"SFW channel: {result.sfw.caught}/{result.sfw.total} caught ({result.sfw.rate:.1%})")
    print(
        "NSFW-allowed channel: minors+sexual, hate, self-harm blocked "
        f"{result.nsfw_must_block.caught}/{result.nsfw_must_block.total} "
        f"({result.nsfw_must_block.rate:.1%}); sexual/gore recognised (allowed there) "
        f"{result.nsfw_recognised.caught}/{result.nsfw_recognised.total}"
    )
    print(
        f"Minors + sexual under the absolute rule in both channels: "
        f"{result.minor_sexual.caught}/{result.minor_sexual.total}"
    )
    print(
        f"False positives: plain {result.plain_false.caught}/{result.plain_false.total} "
        f"({result.plain_false.rate:.1%}), hard {result.hard_false.caught}/"
        f"{result.hard_false.total} ({result.hard_false.rate:.1%})"
    )
    for prompt in result.sfw.missed:
        print(f"  missed: {prompt!r}")
    for prompt in result.minor_sexual.missed:
        print(f"  minors+sexual not absolute everywhere: {prompt!r}")
    for label in result.plain_false.hits:
        print(f"  false positive (plain): {label}")
    for label in result.hard_false.hits:
        print(f"  false positive (hard): {label}")
    for crash in result.crashes:
        print(f"  crash: {crash}")
    p50, p99 = result.percentile(0.5), result.percentile(0.99)
    cold = result.percentile(0.99, steady=False)
    print(
        f"Cost per check (all texts of one prompt, best of the repeats): p50 {p50:.2f} ms, "
        f"p99 {p99:.2f} ms (first pass, every single check: p99 {cold:.2f} ms)"
    )
    goals = result.goals_met()
    print("Goals: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in goals.items()))
    return {
        "sfw_catch": round(result.sfw.rate, 4),
        "disguised": result.sfw.total,
        "by_technique": {k: v.summary() for k, v in sorted(result.by_technique.items())},
        "by_category": {k: v.summary() for k, v in sorted(result.by_category.items())},
        "nsfw_must_block": result.nsfw_must_block.summary(),
        "nsfw_recognised": result.nsfw_recognised.summary(),
        "minor_sexual_absolute_everywhere": result.minor_sexual.summary(),
        "plain_false_positive": round(result.plain_false.rate, 4),
        "plain_benign": result.plain_false.total,
        "hard_false_positive": round(result.hard_false.rate, 4),
        "hard_benign": result.hard_false.total,
        "crashes": len(result.crashes),
        "check_ms_p50": round(p50, 3),
        "check_ms_p99": round(p99, 3),
        "check_ms_p99_first_pass": round(cold, 3),
        "checks": len(result.seconds),
        "goals_met": goals,
        "quick": quick,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="leave out the classic set")
    args = parser.parse_args()
    result = evaluate(classic=not args.quick, repeats=2 if args.quick else 5)
    summary = report(result, args.quick)
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
