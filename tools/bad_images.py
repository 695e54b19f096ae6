"""Awkward inputs, made in memory: each is either refused with a clear message or classified with a note."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

SIZE = (300, 225)


def _lesion(size=SIZE) -> Image.Image:
    """A brown blob on skin colour, with a marker in the top-left corner to check orientation."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    blob = ((x - w / 2) ** 2 / (w / 4) ** 2 + (y - h / 2) ** 2 / (h / 4) ** 2) < 1
    pixels = np.where(blob[..., None], [110, 70, 50], [225, 180, 160]).astype(np.uint8)
    pixels[: h // 6, : w // 6] = [0, 0, 255]
    return Image.fromarray(pixels)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height but holds one row: enough to read the size, not to decode."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * (width * 3 + 1))) + chunk(b"IEND", b"")


def exif_rotated() -> tuple[bytes, Image.Image]:
    """A JPEG stored sideways with EXIF orientation 6 (rotate 90 clockwise to view), and the upright image."""
    upright = _lesion()
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a camera held sideways stores
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(stored, "JPEG", quality=95, exif=exif), upright


def animated_gif() -> bytes:
    frames = [_lesion(), _lesion().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def sixteen_bit_png() -> bytes:
    gray = np.asarray(_lesion().convert("L"), dtype=np.uint16) * 257
    return encode(Image.fromarray(gray), "PNG")


def rgba_png() -> bytes:
    image = _lesion().convert("RGBA")
    alpha = np.full(image.size[::-1], 255, np.uint8)
    alpha[:, :40] = 0
    image.putalpha(Image.fromarray(alpha))
    return encode(image, "PNG")


REFUSED = {
    "empty file": (b"", "empty"),
    "not an image": (b"name,dx\nISIC_1,mel\n", "not an image"),
    "truncated JPEG": (encode(_lesion(), "JPEG")[:1500], "corrupt or truncated"),
    "truncated PNG": (encode(_lesion(), "PNG")[:400], "corrupt or truncated"),
    "decompression bomb": (png_header_only(30000, 30000), "too large"),
    "huge image": (png_header_only(9000, 6000), "too large"),
    "1x1 image": (encode(Image.new("RGB", (1, 1), "brown"), "PNG"), "at least"),
}
"""name -> (file content, a phrase the error message contains)."""

ACCEPTED = {
    "animated GIF": (animated_gif(), "first frame"),
    "16-bit PNG": (sixteen_bit_png(), "16-bit"),
    "CMYK JPEG": (encode(_lesion().convert("CMYK"), "JPEG"), "CMYK"),
    "RGBA with transparency": (rgba_png(), "Transparent"),
    "EXIF-rotated JPEG": (exif_rotated()[0], "EXIF"),
}
"""name -> (file content, a phrase the conversion note contains)."""

SUFFIXES = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif"}


def suffix_for(content: bytes) -> str:
    """The file suffix a user's file of this content would carry."""
    try:
        return SUFFIXES.get(Image.open(io.BytesIO(content)).format, ".bin")
    except Exception:
        return ".jpg" if content[:2] == b"\xff\xd8" else ".png" if content[:4] == b"\x89PNG" else ".txt"
