"""References and ControlNet as options: parsing, weights and refusals before anything is queued."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest

from generation.catalog import Catalog
from generation.errors import InvalidRequest
from studio.guides import guide_fields, parse_control_mode


@dataclass(frozen=True)
class Pic:
    png: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.png).hexdigest()


CATALOG = Catalog.load()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, ("canny", 1.0)),
        ("lineart", ("lineart", 1.0)),
        ("Canny:0.7", ("canny", 0.7)),
        ("scribble:2", ("lineart", 2.0)),
        (" canny : 0 ", ("canny", 0.0)),
    ],
)
def test_control_mode_reads_a_mode_and_an_optional_scale(
    text: str | None, expected: tuple[str, float]
) -> None:
    assert parse_control_mode(text) == expected


@pytest.mark.parametrize("text", ["depth", "canny:3", "canny:-1", "canny:loud", "canny:nan"])
def test_a_bad_control_mode_names_the_option_and_the_range(text: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_control_mode(text)
    assert caught.value.field == "control_mode"
    assert "canny or lineart" in caught.value.message or "0..2" in caught.value.message


def test_guide_fields_weigh_references_and_keep_their_hashes() -> None:
    style, face, sketch = Pic(b"style"), Pic(b"face"), Pic(b"sketch")
    fields = guide_fields(
        CATALOG,
        CATALOG.resolve("tiny"),
        sref=style,
        cref=face,
        control=sketch,
        control_mode="lineart:0.4",
        cref_weight=0.9,
    )
    [s, c] = fields["references"]
    assert (s.kind, s.weight, s.sha256) == ("style", 1.0, style.sha256)
    assert (c.kind, c.weight) == ("character", 0.9)
    assert (fields["control"].mode, fields["control"].scale) == ("lineart", 0.4)
    assert guide_fields(CATALOG, CATALOG.resolve("tiny")) == {"references": []}


@pytest.mark.parametrize(
    ("model", "given", "field"),
    [
        ("tiny-sd2", {"sref": Pic(b"x")}, "sref"),
        ("sd21", {"cref": Pic(b"x")}, "cref"),
        ("tiny-flux", {"control": Pic(b"x")}, "control_mode"),
        ("tiny-sd3", {"control": Pic(b"x"), "control_mode": "lineart"}, "control_mode"),
        ("tiny", {"control_mode": "canny"}, "control_mode"),
    ],
)
def test_a_guide_the_model_cannot_take_is_refused_naming_the_option(
    model: str, given: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        guide_fields(CATALOG, CATALOG.resolve(model), **given)  # type: ignore[arg-type]
    assert caught.value.field == field
