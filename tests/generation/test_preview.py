from __future__ import annotations

import io

import torch
from PIL import Image

from generation.preview import latents_to_images, preview_png


def test_a_preview_has_the_latent_resolution() -> None:
    latents = torch.randn((1, 4, 64, 64), generator=torch.Generator().manual_seed(0))
    png = preview_png(latents, "sd1")
    assert Image.open(io.BytesIO(png)).size == (64, 64)


def test_several_images_come_as_one_grid() -> None:
    latents = torch.zeros((4, 4, 8, 16))
    assert Image.open(io.BytesIO(preview_png(latents, "sd1"))).size == (32, 16)


def test_the_colours_follow_the_latent_rgb_factors() -> None:
    neutral = latents_to_images(torch.zeros((1, 4, 2, 2)), "sd1")[0]
    assert neutral.getpixel((0, 0)) == (127, 127, 127)
    assert latents_to_images(torch.zeros((1, 4, 2, 2)), "sdxl")[0].getpixel((0, 0)) != (
        127,
        127,
        127,
    )  # SDXL's factors carry a bias
    channel_three = torch.zeros((1, 4, 2, 2))
    channel_three[:, 3] = 1.0  # SD's fourth channel pulls towards yellow (less blue)
    red, green, blue = latents_to_images(channel_three, "sd1")[0].getpixel((0, 0))
    assert blue < green < red < 127
