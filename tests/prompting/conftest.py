"""Shared fixtures: compel's own parser (the oracle for translations) and a real CLIP tokenizer.

``import compel`` imports torch and diffusers (half a minute on a busy 2-core machine), so the
fixture loads compel's ``prompt_parser.py`` straight from its file: the same code, pyparsing only.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

WORD = re.compile(r"\w+")


@pytest.fixture(scope="session")
def compel_parse() -> Callable[[str], list[tuple[float, list[tuple[str, float]]]]]:
    """Parse with compel's PromptParser: ``[(and_weight, [(fragment text, weight), …]), …]``."""
    spec = importlib.util.find_spec("compel")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "prompt_parser.py"
    module_spec = importlib.util.spec_from_file_location("_compel_prompt_parser", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    FlattenedPrompt = module.FlattenedPrompt
    parser = module.PromptParser()

    def parse(text: str) -> list[tuple[float, list[tuple[str, float]]]]:
        conjunction = parser.parse_conjunction(text)
        out = []
        for prompt, weight in zip(conjunction.prompts, conjunction.weights, strict=True):
            assert isinstance(prompt, FlattenedPrompt), prompt
            out.append((weight, [(f.text, f.weight) for f in prompt.children]))
        return out

    return parse


def weighted_words(fragments: list[tuple[str, float]]) -> list[tuple[str, float]]:
    return [(word, weight) for text, weight in fragments for word in WORD.findall(text)]


def assert_same_weighted_words(
    got: list[tuple[str, float]], expected: list[tuple[str, float]]
) -> None:
    assert [w for w, _ in got] == [w for w, _ in expected]
    for (word, weight), (_, want) in zip(got, expected, strict=True):
        assert weight == pytest.approx(want, abs=1e-4), word


@pytest.fixture(scope="session")
def clip_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from generation.tiny import has_real_clip_vocabulary, write_clip_tokenizer

    if not has_real_clip_vocabulary():
        pytest.skip("the real CLIP vocabulary (open-clip-torch's data file) is not installed")
    from transformers import CLIPTokenizer

    folder: Path = tmp_path_factory.mktemp("clip-tokenizer")
    write_clip_tokenizer(folder)
    return CLIPTokenizer.from_pretrained(folder)
