from __future__ import annotations

from PIL import Image

from generation.png import (
    encode_png,
    format_parameters,
    make_grid,
    parse_parameters,
    read_parameters,
)


def test_parameters_round_trip_through_a_png() -> None:
    settings = {
        "Steps": 20, "Sampler": "DPM++ 2M Karras", "CFG scale": 7.0, "Seed": 42,
        "Size": "512x768", "Model": "my, model: v2", "Variation seed": 7,
        "Variation seed strength": 0.15, "Denoising strength": None,
    }  # fmt: skip
    text = format_parameters("a fox, (snow)1.2\nsecond line", "blurry, ugly", settings)
    png = encode_png(Image.new("RGB", (8, 8), "red"), text)
    assert read_parameters(png) == text
    parsed = parse_parameters(text)
    assert parsed.prompt == "a fox, (snow)1.2\nsecond line"
    assert parsed.negative_prompt == "blurry, ugly"
    assert parsed.settings == {
        "Steps": "20", "Sampler": "DPM++ 2M Karras", "CFG scale": "7.0", "Seed": "42",
        "Size": "512x768", "Model": "my, model: v2", "Variation seed": "7",
        "Variation seed strength": "0.15",
    }  # fmt: skip


def test_the_text_is_laid_out_as_a1111_writes_it() -> None:
    text = format_parameters("a cat", "dog", {"Steps": 4, "Sampler": "Euler a", "Seed": 1})
    assert text == "a cat\nNegative prompt: dog\nSteps: 4, Sampler: Euler a, Seed: 1"
    assert "Negative prompt" not in format_parameters("a cat", "", {"Steps": 4})


def test_an_a1111_text_without_settings_is_all_prompt() -> None:
    parsed = parse_parameters("just a prompt: nothing else")
    assert parsed.prompt == "just a prompt: nothing else"
    assert parsed.settings == {}


def test_a_png_without_the_chunk_reads_as_none() -> None:
    assert read_parameters(encode_png(Image.new("RGB", (4, 4)))) is None


def test_grids_put_four_images_in_two_rows_of_two() -> None:
    colours = ["red", "green", "blue", "white"]
    tiles = [Image.new("RGB", (16, 8), colour) for colour in colours]
    grid = make_grid(tiles)
    assert grid.size == (32, 16)
    assert grid.getpixel((0, 0)) == (255, 0, 0)
    assert grid.getpixel((16, 0)) == (0, 128, 0)
    assert grid.getpixel((0, 8)) == (0, 0, 255)
    assert grid.getpixel((31, 15)) == (255, 255, 255)
    assert make_grid(tiles[:2]).size == (32, 8)
    assert make_grid(tiles[:3]).size == (32, 16)
    assert make_grid(tiles[:1]).size == (16, 8)
