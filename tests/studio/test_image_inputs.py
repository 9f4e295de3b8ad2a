"""Members' pictures are untrusted: every awkward or hostile file gives a clean RGB PNG or one
clear error on the option, never a traceback, never gigabytes of memory."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from generation.errors import InvalidRequest
from studio.image_inputs import InputPicture, read_picture


def encode(picture: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def pixels(picture: InputPicture) -> np.ndarray:
    with Image.open(io.BytesIO(picture.png)) as opened:
        assert opened.mode == "RGB"
        return np.asarray(opened)


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header announcing ``width × height`` grey pixels with a few KB of zeros."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 64, 9)
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def test_a_plain_picture_comes_back_as_rgb_png_with_its_size_and_hash() -> None:
    picture = read_picture(encode(Image.new("RGB", (40, 30), (10, 200, 30))), field="image")
    assert (picture.width, picture.height) == (40, 30)
    assert tuple(pixels(picture)[0, 0]) == (10, 200, 30)
    assert len(picture.sha256) == 64
    again = read_picture(encode(Image.new("RGB", (40, 30), (10, 200, 30)), "BMP"), field="image")
    assert again.sha256 == picture.sha256  # same pixels, same stored file


def test_a_decompression_bomb_is_refused_from_its_header_without_decoding() -> None:
    bomb = png_bomb(60_000, 60_000)  # 3.6 gigapixels announced in a few KB
    assert len(bomb) < 20_000
    with pytest.raises(InvalidRequest) as caught:
        read_picture(bomb, field="image", max_pixels=16_000_000)
    assert caught.value.field == "image" and "megapixels" in caught.value.message


def test_a_picture_over_the_pixel_cap_is_refused_naming_the_cap() -> None:
    data = encode(Image.new("RGB", (400, 400)))
    with pytest.raises(InvalidRequest, match=r"at most 0\.1 megapixels"):
        read_picture(data, field="image", max_pixels=100_000)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"%PDF-1.4 not a picture at all", "not a picture"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not a picture|damaged"),
    ],
)
def test_empty_and_foreign_files_are_refused_with_a_clear_error(data: bytes, words: str) -> None:
    with pytest.raises(InvalidRequest, match=words) as caught:
        read_picture(data, field="image")
    assert caught.value.field == "image"


def test_a_truncated_jpeg_is_refused_as_damaged() -> None:
    whole = encode(Image.effect_noise((64, 64), 60).convert("RGB"), "JPEG", quality=90)
    with pytest.raises(InvalidRequest, match="damaged") as caught:
        read_picture(whole[: len(whole) // 2], field="sref")
    assert caught.value.field == "sref"  # the option the member used, whatever it is


def test_a_tiff_is_not_opened() -> None:
    with pytest.raises(InvalidRequest, match="not a picture"):
        read_picture(encode(Image.new("RGB", (32, 32)), "TIFF"), field="image")


def test_cmyk_becomes_rgb() -> None:
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    red = pixels(read_picture(encode(cmyk, "JPEG", quality=100), field="image"))[8, 8]
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


def test_a_palette_picture_with_transparency_is_composited_on_white() -> None:
    palette = Image.new("P", (16, 16), 0)
    palette.putpalette([0, 0, 255] + [255, 0, 0] * 255)
    palette.putpixel((0, 0), 1)
    data = encode(palette, transparency=0)  # index 0 (blue) is transparent
    picture = pixels(read_picture(data, field="image"))
    assert tuple(picture[8, 8]) == (255, 255, 255) and tuple(picture[0, 0]) == (255, 0, 0)


def test_alpha_is_composited_on_white_not_black() -> None:
    rgba = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 128, 0, 255))
    picture = pixels(read_picture(encode(rgba), field="image"))
    assert tuple(picture[5, 5]) == (255, 255, 255) and tuple(picture[0, 0]) == (0, 128, 0)
    half = pixels(read_picture(encode(Image.new("LA", (16, 16), (0, 128))), field="image"))
    assert 120 <= half[0, 0, 0] <= 135  # black at half alpha on white: mid grey


def test_sixteen_bit_grey_is_scaled_not_clipped_white() -> None:
    ramp = np.tile(np.linspace(0, 65535, 32, dtype=np.uint16), (8, 1))
    data = encode(Image.fromarray(ramp))  # a 16-bit grey PNG
    grey = pixels(read_picture(data, field="image"))[0, :, 0]
    assert grey[0] == 0 and grey[-1] == 255
    assert 100 < grey[16] < 160  # the middle of the ramp stays mid grey


def test_an_animation_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    first = pixels(read_picture(buffer.getvalue(), field="image"))[4, 4]
    assert first[0] > 200 and first[2] < 50


def test_exif_orientation_is_applied_and_all_metadata_dropped() -> None:
    wide = Image.new("RGB", (40, 20), (0, 0, 0))
    wide.paste((255, 255, 255), (0, 0, 20, 20))  # white on the left half
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    exif[0x010F] = "PhoneMaker"
    data = encode(wide, "JPEG", exif=exif.tobytes(), quality=95)
    picture = read_picture(data, field="image")
    assert (picture.width, picture.height) == (20, 40)  # upright, as the phone showed it
    assert pixels(picture)[5, 10].mean() > 200  # the white half is now on top
    with Image.open(io.BytesIO(picture.png)) as opened:
        assert not opened.getexif() and "icc_profile" not in opened.info

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "secret prompt")
    texted = read_picture(encode(Image.new("RGB", (16, 16)), pnginfo=info), field="image")
    with Image.open(io.BytesIO(texted.png)) as opened:
        assert "parameters" not in opened.info


def test_a_sliver_of_a_picture_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="at least 8 pixels"):
        read_picture(encode(Image.new("RGB", (300, 2))), field="image")


def test_a_foreign_file_is_refused_naming_every_format_the_bot_reads() -> None:
    """The refusal is the member's only list of what to send: BMP is read, so it is named."""
    with pytest.raises(InvalidRequest) as caught:
        read_picture(b"%PDF-1.4 not a picture", field="image")
    assert caught.value.field == "image"
    for name in ("PNG", "JPEG", "WebP", "GIF", "BMP"):
        assert name in caught.value.message
