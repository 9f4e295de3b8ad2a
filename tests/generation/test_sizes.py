from __future__ import annotations

import pytest

from generation.errors import InvalidRequest
from generation.sizes import (
    ASPECTS,
    FAMILY_BOUNDS,
    aspect_size,
    check_size,
    native_size,
    parse_size,
)


@pytest.mark.parametrize("family", sorted(FAMILY_BOUNDS))
def test_aspect_presets_keep_the_native_area_and_the_ratio(family: str) -> None:
    native = FAMILY_BOUNDS[family].native
    assert aspect_size(family, "1:1") == native_size(family) == (native, native)
    for aspect in ASPECTS:
        width, height = aspect_size(family, aspect)
        across, down = (int(part) for part in aspect.split(":"))
        assert width % 64 == 0 and height % 64 == 0
        assert 0.85 <= width * height / native**2 <= 1.10
        assert width / height == pytest.approx(across / down, rel=0.10)
        assert (width > height) == (across > down)
        check_size(family, width, height, max_pixels=4096 * 4096)


def test_the_native_sizes_per_family() -> None:
    assert native_size("sd1") == (512, 512)
    assert native_size("sd2") == (768, 768)
    assert native_size("sdxl") == (1024, 1024)
    assert aspect_size("sdxl", "16:9") == (1344, 768)


@pytest.mark.parametrize(
    ("family", "width", "height", "field"),
    [("sd1", 513, 512, "width"), ("sd1", 512, 1088, "height"), ("sdxl", 32, 512, "width"),
     ("sdxl", 2048, 2048, "size")],
)  # fmt: skip
def test_out_of_range_sizes_name_the_field_and_the_range(
    family: str, width: int, height: int, field: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_size(family, width, height, max_pixels=1024 * 1024)
    assert caught.value.field == field
    if field != "size":
        limits = FAMILY_BOUNDS[family]
        assert f"{limits.min_side}..{limits.max_side}" in caught.value.message


def test_parse_size_and_unknown_aspects() -> None:
    assert parse_size("768x512") == (768, 512)
    assert parse_size("768X512") == (768, 512)
    with pytest.raises(InvalidRequest) as caught:
        parse_size("big")
    assert caught.value.field == "size"
    with pytest.raises(InvalidRequest) as caught:
        aspect_size("sd1", "5:4")
    assert caught.value.field == "aspect" and "16:9" in caught.value.message
