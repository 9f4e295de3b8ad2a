from __future__ import annotations

import pytest

from safety.normalize import fold, normalize, readings, runs


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Ｎｕｄｅ", "nude"),  # fullwidth (NFKC)
        ("𝐧𝐮𝐝𝐞", "nude"),  # mathematical bold
        ("nu\u200bd\u00ade", "nude"),  # zero-width space, soft hyphen
        ("ηυdе", "nude"),  # Greek and Cyrillic look-alikes
        ("ΝUDΕ", "nude"),  # Greek capitals
        ("ɴᴜᴅᴇ", "nude"),  # small capitals
        ("🅽🆄🅳🅴", "nude"),  # negative squared letters
        ("ñüdé", "nude"),  # accents
        ("n\u0301u\u0316de", "nude"),  # zalgo marks
        ("NuDe", "nude"),
        ("ᑎᑌᗪᗴ", "nude"),  # Canadian syllabics
        ("ꓠꓴꓓꓰ", "nude"),  # Lisu
        ("ᏚᎬ᙭", "sex"),  # Cherokee and syllabics
    ],
)
def test_disguised_letters_fold_to_plain_latin(written: str, expected: str) -> None:
    assert fold(written) == expected


def test_leetspeak_is_read_with_1_as_i_and_as_l() -> None:
    words = {w for r in readings("nud3 k1ll 1oli") for seq, _ in r.sequences() for w in seq}
    assert {"nude", "kill", "loli"} <= words


def test_single_letters_are_joined_whatever_separates_them() -> None:
    for written in ("n.u.d.e", "n u d e", "n-u-d-e", "n_u_d_e", "n*u*d*e", "n. u. d. e."):
        assert any("nude" in seq for r in readings(written) for seq, _ in r.sequences()), written


def test_repeated_letters_keep_their_counts() -> None:
    word = runs("nuuuude")
    assert word.skeleton == "nude"
    assert word.counts == (1, 4, 1, 1)


def test_non_latin_text_survives_and_words_stay_whole() -> None:
    assert normalize("桜の木 Scunthorpe, analysis!") == "scunthorpe analysis"
    assert "桜の木" in fold("桜の木")
