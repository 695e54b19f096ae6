"""Small files that decode to huge images: the memory amplification cases of issue 11, written without
ever holding the decoded image in memory."""

from __future__ import annotations

import struct
import zlib

SIDE = 5000
"""5000x5000 is 25 megapixels: the most the app accepts (lesion.limits.MAX_PIXELS), so it must be decoded, not refused."""

PNG_MODES = {"16-bit grayscale": (16, 0, 2), "RGBA": (8, 6, 4)}
"""name -> (bit depth, PNG colour type, bytes per pixel)."""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def zero_png(mode: str, side: int = SIDE) -> bytes:
    """An all-zero PNG of side x side pixels (for RGBA: fully transparent black), about 75-160 kB."""
    depth, colour_type, bytes_per_pixel = PNG_MODES[mode]
    row = b"\x00" * (1 + side * bytes_per_pixel)  # filter byte, then the pixels
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")
