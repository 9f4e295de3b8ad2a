"""The README is the user's manual: it must list every setting exactly as the code defines it."""

from __future__ import annotations

import re
from pathlib import Path

from bot.cli.settings_commands import README_BEGIN, README_END, setting_rows, settings_markdown

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_settings_reference_matches_the_configuration_model() -> None:
    text = README.read_text(encoding="utf-8")
    block = text.split(README_BEGIN, 1)[1].split(README_END, 1)[0].strip()
    assert block == settings_markdown(), (
        "README's settings reference is stale: paste `muralist settings --markdown` between "
        "the settings markers"
    )


def test_every_environment_variable_the_readme_names_exists() -> None:
    known = {row["variable"] for row in setting_rows()} | {"MURALIST_CONFIG", "MURALIST_DEBUG"}
    named = set(re.findall(r"MURALIST_[A-Z0-9_]+", README.read_text(encoding="utf-8")))
    assert named - known == set()


def test_quickstart_has_the_two_commands() -> None:
    quickstart = README.read_text(encoding="utf-8").split("## Quickstart", 1)[1].split("##", 1)[0]
    assert "make demo" in quickstart and "make test" in quickstart
