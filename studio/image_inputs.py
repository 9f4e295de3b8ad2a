"""Members' pictures (an attachment, a CLI file) read as untrusted input: one clean RGB PNG.

Every way a file can hurt or surprise is handled here, once, for every front end and every
capability that starts from a picture (img2img, outpainting, references, ControlNet):

- the pixel count is read from the header and checked before anything is decoded, so a
  decompression bomb (a few KB that inflate to gigapixels) is refused without the memory;
  Pillow's own bomb check (``Image.MAX_IMAGE_PIXELS``) stays on as a second wall;
- only PNG, JPEG, WebP, GIF and BMP are opened (no TIFF/PSD/EPS decoders on user data);
- the EXIF orientation is applied (a phone photo comes out the way it looked), then every piece
  of metadata is dropped (EXIF with GPS, ICC, text chunks): the PNG holds pixels only;
- an animation gives its first frame; CMYK, palette, 16-bit and grey pictures become RGB, and
  transparency is composited on white (what a member saw in Discord's light theme);
- anything unreadable is one ``InvalidRequest`` naming the option (``image``), which the bot
  answers privately and the CLI with exit code 2.
"""

from __future__ import annotations

import hashlib
import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field

from generation.errors import InvalidRequest

FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
"""The formats a member's picture may have."""
MIN_SIDE = 8
DEFAULT_MAX_PIXELS = 4096 * 4096
"""A 16-megapixel cap: more than any family paints, far below what would hurt the host."""


class InputPicture(BaseModel):
    """A member's picture after ``read_picture``: RGB, no metadata, upright, as PNG bytes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    png: bytes = Field(repr=False)
    width: int
    height: int
    sha256: str = Field(description="Of ``png``: the input store's key and the PNG's record.")

    @property
    def ratio(self) -> float:
        """Width ÷ height."""
        return self.width / self.height


def read_picture(data: bytes, *, field: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> InputPicture:
    """``data`` as a clean picture, or ``InvalidRequest`` on ``field`` saying what is wrong."""
    if not data:
        raise InvalidRequest(
            field, "the file is empty; attach a PNG, JPEG, WebP, GIF or BMP picture"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as opened:
                width, height = opened.size  # from the header: nothing decoded yet
                _check_size(field, width, height, max_pixels)
                opened.seek(0)  # an animation's first frame
                upright = ImageOps.exif_transpose(opened)  # decodes the frame
                picture = _rgb(upright)
    except InvalidRequest:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidRequest(
            field, f"the picture has too many pixels; send at most {_megapixels(max_pixels)}"
        ) from None
    except UnidentifiedImageError:
        raise InvalidRequest(
            field, "this file is not a picture this bot reads; send a PNG, JPEG, WebP, GIF or BMP"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidRequest(
            field, f"the picture is damaged or cut short ({_short(exc)}); send it again"
        ) from None
    # Pixels only: a new image carries none of the file's EXIF, ICC profile or text chunks.
    clean = Image.frombytes("RGB", picture.size, picture.tobytes())
    buffer = io.BytesIO()
    clean.save(buffer, format="PNG")
    png = buffer.getvalue()
    return InputPicture(
        png=png,
        width=clean.width,
        height=clean.height,
        sha256=hashlib.sha256(png).hexdigest(),
    )


def _check_size(field: str, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise InvalidRequest(
            field,
            f"the picture is {width}×{height} ({_megapixels(width * height)}); send at most "
            f"{_megapixels(max_pixels)}",
        )
    if min(width, height) < MIN_SIDE:
        raise InvalidRequest(
            field, f"the picture is {width}×{height}; each side needs at least {MIN_SIDE} pixels"
        )


def _rgb(picture: Image.Image) -> Image.Image:
    """Any mode as 8-bit RGB; transparency composited on white."""
    mode = picture.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I") or mode == "F":
        return _wide_grey(picture)
    if (mode == "P" and "transparency" in picture.info) or mode in ("LA", "PA", "La", "RGBa"):
        picture = picture.convert("RGBA")
    if picture.mode == "RGBA":
        white = Image.new("RGBA", picture.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, picture).convert("RGB")
    return picture.convert("RGB")


def _wide_grey(picture: Image.Image) -> Image.Image:
    """16-bit (or 32-bit) grey scaled to 8 bits, not clipped: Pillow's own conversion saturates
    every value above 255, which turns a 16-bit photo white."""
    import numpy as np

    values = np.asarray(picture, dtype=np.float64)
    top = 65535.0 if picture.mode.startswith("I;16") or values.max() > 255 else 255.0
    if picture.mode == "F":
        top = max(float(values.max()), 1.0)
    grey = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:.1f} megapixels"


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:120]
