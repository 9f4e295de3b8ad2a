from __future__ import annotations

from pathlib import Path

import pytest

from safety.errors import InvalidSafetyInput
from safety.lexicon import LANGUAGES, shipped_lexicon
from safety.terms import CATEGORIES, load_terms_file, validate_guild_term


def test_the_shipped_lists_cover_every_category_in_every_language() -> None:
    shipped = shipped_lexicon()
    english = {t.category for t in shipped.terms if t.lang == "en"}
    assert english == set(CATEGORIES) - {"guild"}
    for lang in LANGUAGES:
        found = {t.category for t in shipped.terms if t.lang == lang}
        assert {"sexual", "violence-gore", "minors", "suggestive"} <= found, lang
    assert "naked eye" in shipped.exemptions and "kid goat" in shipped.not_minor


def test_plain_terms_are_stored_normalised() -> None:
    term = validate_guild_term("  Season   FINALE! ", False)
    assert term.text == "season finale" and not term.regex and term.category == "guild"
    assert validate_guild_term("spoiler", False, "violence-gore").category == "violence-gore"


@pytest.mark.parametrize(
    ("text", "is_regex", "why"),
    [
        ("(a+)+$", True, "nests a repeat"),
        (r"(\w+\s?)*$", True, "nests a repeat"),
        ("(a|aa)+$", True, "exponential time"),
        ("foo[", True, "invalid pattern"),
        ("(?P<x", True, "invalid pattern"),
        ("a*", True, "matches empty text"),
        ("x" * 201, True, "1..200 characters"),
        ("!!!", False, "no letters"),
        ("y" * 101, False, "at most 100"),
        ("\ufb03" * 100, False, "300 characters long"),
    ],
)
def test_bad_guild_terms_are_rejected_with_the_reason(text: str, is_regex: bool, why: str) -> None:
    with pytest.raises(InvalidSafetyInput) as caught:
        validate_guild_term(text, is_regex)
    assert caught.value.field == "term"
    assert why in str(caught.value)


def test_an_unknown_category_is_rejected() -> None:
    with pytest.raises(InvalidSafetyInput, match="unknown category"):
        validate_guild_term("x", False, "rude")


def test_a_sane_pattern_is_accepted() -> None:
    term = validate_guild_term(r"\bspoil(er)?s?\b", True)
    assert term.regex and term.text == r"\bspoil(er)?s?\b"


def test_a_term_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "guild.toml"
    path.write_text(
        'exempt = ["Gore"]\n[guild]\nterms = ["finale"]\nregex = [\'\\bep \\d+\\b\']\n'
        '[hate]\nterms = ["meanie"]\n',
        encoding="utf-8",
    )
    terms = load_terms_file(path)
    assert terms.exemptions == ("gore",)
    assert [(t.text, t.regex, t.category) for t in terms.terms] == [
        ("finale", False, "guild"),
        (r"\bep \d+\b", True, "guild"),
        ("meanie", False, "hate"),
    ]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'[guild]\nterms = ["caf\xe9"]\n', "not valid UTF-8"),
        (b"[guild\nterms = 1", "not valid TOML"),
        (b'[rude]\nterms = ["x"]\n', "unknown category"),
        (b'[guild]\nterms = "x"\n', "list of strings"),
        (b"[guild]\nregex = ['(a+)+$']\n", "guild.regex[0]"),
    ],
)
def test_a_bad_term_file_is_one_error_naming_the_file(
    tmp_path: Path, content: bytes, why: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    with pytest.raises(InvalidSafetyInput) as caught:
        load_terms_file(path)
    assert str(path) in str(caught.value)
    assert why in str(caught.value)


def test_a_missing_term_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidSafetyInput, match="cannot read"):
        load_terms_file(tmp_path / "nope.toml")
