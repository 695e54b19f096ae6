"""Property-based test of lesion.preprocess on mutated image files: whatever the bytes, the result is either the
model's input or the project's own InvalidImageError, never another exception."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from lesion.preprocess import InputSpec, InvalidImageError, prepare_pixels
from tools import bad_images

pytestmark = pytest.mark.slow

SPEC = InputSpec()
EXAMPLES = 300
"""Seeded (derandomized), so every run checks the same 300 files and a failure reproduces."""


def _seeds() -> dict[str, bytes]:
    small = bad_images._lesion((96, 72))
    exif = Image.Exif()
    exif[0x0112] = 6
    gray16 = Image.fromarray(np.asarray(small.convert("L"), dtype=np.uint16) * 257)
    return {
        "JPEG": bad_images.encode(small, "JPEG", quality=90),
        "progressive JPEG": bad_images.encode(small, "JPEG", progressive=True),
        "EXIF JPEG": bad_images.encode(small, "JPEG", exif=exif),
        "CMYK JPEG": bad_images.encode(small.convert("CMYK"), "JPEG"),
        "PNG": bad_images.encode(small, "PNG"),
        "RGBA PNG": bad_images.encode(small.convert("RGBA"), "PNG"),
        "16-bit PNG": bad_images.encode(gray16, "PNG"),
        "palette PNG": bad_images.encode(small.convert("P"), "PNG", transparency=0),
        "GIF": bad_images.encode(small, "GIF", save_all=True, append_images=[small.rotate(90)]),
        "WebP": bad_images.encode(small, "WEBP"),
        "BMP": bad_images.encode(small, "BMP"),
    }


SEEDS = _seeds()


@st.composite
def mutated_images(draw) -> bytes:
    """A seed file with some bytes overwritten (often in the header), some inserted or deleted, or cut short."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["overwrite-header", "overwrite", "insert", "delete"]))
        where = draw(st.integers(0, min(len(data) - 1, 64) if kind == "overwrite-header" else len(data) - 1))
        if kind.startswith("overwrite"):
            data[where] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[where:where + draw(st.integers(1, 16))]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(mutated_images())
def test_mutated_files_give_a_result_or_a_clear_refusal(data):
    try:
        pixels, notes = prepare_pixels(data, SPEC)
    except InvalidImageError as error:
        assert str(error).endswith(".") and "please" in str(error).lower() or "No image" in str(error)
        return
    assert pixels.shape == (SPEC.height, SPEC.width, 3) and pixels.dtype == np.uint8
    assert all(isinstance(note, str) for note in notes)


def test_seeds_are_all_classified():
    for name, data in SEEDS.items():
        assert prepare_pixels(data, SPEC)[0].shape == (SPEC.height, SPEC.width, 3), name
        assert Image.open(io.BytesIO(data)).format, name
