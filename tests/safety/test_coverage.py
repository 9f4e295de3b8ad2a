"""What the filter reads through: languages, word forms, misspellings, joined and split words,
look-alike scripts; and the art words that must keep passing."""

from __future__ import annotations

import pytest

from safety.fuzzy import FuzzyIndex
from safety.lookalikes import latin_for
from safety.models import ChannelFlags, GuildSafety
from safety.normalize import fold
from safety.prompt_filter import PromptFilter
from safety.prompt_syntax import without_syntax
from safety.vocabulary import is_known

NSFW = (ChannelFlags(nsfw=True), GuildSafety(allow_nsfw_in_age_restricted=True))


@pytest.mark.parametrize(
    "prompt",
    [
        "Scunthorpe at dusk", "a cocktail bar", "a pub in Essex", "a titmouse on a branch",
        "Dick Grayson as Nightwing", "a graduate, cum laude", "pussy willow in a vase",
        "a kid goat", "a horny toad on a rock", "a naked cake with berries",
        "nude pumps, product photo", "a decapitated statue in ruins",
        "a classical figure study in charcoal", "a nudibranch on a reef", "Edward Gorey style",
        "the sextons of the old church", "a sperm whale", "kids playing football",
        "a woman in a bikini on a beach", "a sexy red sports car", "Nina Simone at the piano",
        "a kind old man", "a Naga warrior, fantasy art", "une tortue sur la plage",
        "ein Kind mit einem Drachen", "公园里的孩子们", "the erection of a cathedral",
        "a bottomless pit in a cave", "make love not war poster", "a detective, no gore",
    ],
)  # fmt: skip
def test_art_words_pass_in_an_sfw_channel(prompt_filter: PromptFilter, prompt: str) -> None:
    verdict = prompt_filter.check(prompt)
    assert verdict.allowed, verdict.reason
    assert not verdict.absolute


@pytest.mark.parametrize(
    ("prompt", "category"),
    [
        ("mujer desnuda", "sexual"), ("femme nue sur un lit", "sexual"),
        ("nackte Frau", "sexual"), ("mulher nua", "sexual"), ("donna nuda", "sexual"),
        ("naakte vrouw", "sexual"), ("naga kobieta", "sexual"), ("голая женщина", "sexual"),
        ("гoлая женщина", "sexual"),  # a Latin o inside a Russian word
        ("全裸の女性", "sexual"), ("hadaka no onna", "sexual"), ("裸体女人", "sexual"),
        ("나체 여성", "sexual"), ("cuerpo decapitado", "violence-gore"),
        ("enthaupteter Mann", "violence-gore"), ("обезглавленное тело", "violence-gore"),
        ("斬首された男", "violence-gore"), ("참수된 남자", "violence-gore"),
    ],
)  # fmt: skip
def test_other_languages_are_read(prompt_filter: PromptFilter, prompt: str, category: str) -> None:
    verdict = prompt_filter.check(prompt)
    assert not verdict.allowed and category in verdict.blocking, verdict.matches


def test_a_foreign_word_that_is_also_english_needs_its_language_around_it(
    prompt_filter: PromptFilter,
) -> None:
    # "nina" is Spanish for a girl without its tilde, and an English name.
    assert not prompt_filter.check("Nina, nude, on a beach", channel=NSFW[0], guild=NSFW[1]).minor
    assert prompt_filter.check("nina desnuda", channel=NSFW[0], guild=NSFW[1]).absolute
    assert prompt_filter.check("kind nackt", channel=NSFW[0], guild=NSFW[1]).absolute
    assert not prompt_filter.check("a kind nude woman", channel=NSFW[0], guild=NSFW[1]).minor


@pytest.mark.parametrize(
    "prompt",
    [
        "nakedness", "undressing in a mirror", "he beheads the king", "disemboweling",
        "she masturbates", "decapitating", "strippers", "nudes", "undressed",
    ],
)  # fmt: skip
def test_word_forms_come_from_the_lemmatiser(prompt_filter: PromptFilter, prompt: str) -> None:
    assert not prompt_filter.check(prompt).allowed


@pytest.mark.parametrize(
    ("prompt", "via"),
    [
        ("nakid woman", "misspelling"), ("pornogrpahy", "misspelling"),
        ("decapatated body", "misspelling"), ("white supremicist", "misspelling"),
        ("nudewoman", "joined"), ("pornscene", "joined"), ("toddlerinlingerie", "joined"),
        ("n ude woman", "split"), ("p*rn still", "letters"),
    ],
)  # fmt: skip
def test_misspelt_joined_split_and_masked_terms_are_found(
    prompt_filter: PromptFilter, prompt: str, via: str
) -> None:
    verdict = prompt_filter.check(prompt)
    assert not verdict.allowed
    assert via in {m.via for m in verdict.matches}


@pytest.mark.parametrize("word", ["nuked", "baked", "titmouse", "scunthorpe", "nudibranch"])
def test_real_words_are_never_read_as_disguises(word: str, prompt_filter: PromptFilter) -> None:
    assert is_known(word)
    assert prompt_filter.check(f"a {word}").allowed


def test_misspellings_are_confirmed_by_edit_distance() -> None:
    index = FuzzyIndex([("naked", "naked"), ("nude", "nude"), ("masturbation", "m")])
    assert [p for _t, p in index.near("nakid")] == ["naked"]
    assert [p for _t, p in index.near("nued")] == ["nude"]  # four letters: a swap only
    assert list(index.near("nuds")) == []
    assert [p for _t, p in index.near("mastrubaton")] == ["m"]  # two edits from nine letters
    assert list(index.near("xyzzy")) == []


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("ᑎᑌᗪᗴ", "nude"),  # Canadian syllabics
        ("ꓠꓴꓓꓰ", "nude"),  # Lisu
        ("ᏚᎬᎷ", "sem"),  # Cherokee
        ("ΝUDΕ", "nude"),  # Greek capitals
        ("卂几乇", "ane"),  # "fancy text" Han look-alikes
        ("ɴᴜᴅᴇ", "nude"),  # small capitals (Unicode names)
    ],
)
def test_look_alike_scripts_read_as_latin(written: str, expected: str) -> None:
    assert fold(written) == expected


def test_look_alikes_come_from_unicode_data_not_a_table() -> None:
    assert latin_for("ꓐ") == "b" and latin_for("Ꭰ") == "d" and latin_for("ᑭ") == "p"
    assert latin_for("a") is None and latin_for("桜") is None


@pytest.mark.parametrize(
    ("text", "joined"),
    [
        ("nu BREAK de", "nude"),
        ("(nak:1.1)(ed:1.1)", "naked"),
        ("(nak)1.1(ed)1.1", "naked"),
        ("a AND b", "ab"),
        ("[na:ked:3]", "na:ked"),
    ],
)
def test_prompt_syntax_is_taken_out_so_split_words_touch(text: str, joined: str) -> None:
    assert without_syntax(text) == joined
    assert without_syntax("a plain prompt") is None
