"""Seamless tiles: circular padding on a model's convolutions for one call.

A convolution pads its input at the border; with zeros (the default) the edges of the image
are painted against a black frame, so a tile repeated side by side shows a seam. Padding
circularly makes the left edge see the right one and the top the bottom: the UNet (whose
attention has no positions) and the VAE then paint on a torus, and the picture continues across
its own edges. Only the convolutions change, and only for the block: the modules are shared with
the img2img pipeline and a compiled UNet, and the engine holds its lock meanwhile.

FLUX.1 and SD 3.5 paint with transformers whose only convolution (the patch embedding) has no
padding and whose positions are absolute, so circular padding cannot make their tiles seamless;
they are refused (``check_tile``) rather than painted with a seam.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from generation.errors import InvalidRequest
from generation.families import traits


def check_tile(family: str) -> None:
    """``InvalidRequest`` on ``tile`` for a family whose tiles cannot be seamless."""
    if traits(family).flow:
        raise InvalidRequest(
            "tile",
            f"{traits(family).label} models cannot paint seamless tiles (their transformer has "
            "no padded convolutions to wrap); use an SD 1.x, SD 2.x or SDXL model",
        )


@contextmanager
def circular_padding(parts: Iterable[Any], wanted: bool = True) -> Iterator[None]:
    """Every padded ``Conv2d`` of ``parts`` (torch modules) pads circularly for the block."""
    if not wanted:
        yield
        return
    import torch

    convolutions = [
        module
        for part in parts
        for module in part.modules()
        if isinstance(module, torch.nn.Conv2d) and any(module.padding)
    ]
    saved = [module.padding_mode for module in convolutions]
    for module in convolutions:
        module.padding_mode = "circular"
    try:
        yield
    finally:
        for module, mode in zip(convolutions, saved, strict=True):
            module.padding_mode = mode
