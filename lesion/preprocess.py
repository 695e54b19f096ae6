"""The one preprocessing path shared by training, evaluation and the app.

decode -> checks -> EXIF orientation -> RGB -> landscape -> centre crop -> resize -> colour constancy -> normalise.
"""

from __future__ import annotations

import io
import os
import struct
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

MIN_SIDE = 32
"""Smaller images hold no usable detail; they are refused, not upscaled."""
MAX_PIXELS = 40_000_000
"""Above this (a 7,300x5,500 photo) decoding alone would cost the server too much memory."""
BYTES_PER_PIXEL = 4
"""What Pillow holds per decoded pixel in RGB, RGBA, CMYK, I or F mode (the largest); libjpeg's buffers are smaller."""
REDUCING_GAP = 2
"""Whole-factor reduction stops at twice the size the image is resized to, which Lanczos then finishes (Pillow's
`reducing_gap`): the result differs from a full-size resize by about one grey level. Every image, JPEGs too, is
decoded at full size first, as a browser decodes it: JPEG draft mode (decoding at 1/2, 1/4 or 1/8 scale) would be
faster, but a browser cannot reproduce it, and private mode (lesion/web/preprocess.js) reproduces all of this."""
STRIP_ROWS = 64
"""Rows converted at a time while reducing: a few MB even for the widest image accepted."""
EXIF_ORIENTATION = 0x0112
EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""EXIF orientation -> the transpose that brings the stored pixels upright (as in ImageOps.exif_transpose)."""
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")
CORRUPT_FILE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct.error)
"""What Pillow's decoders raise on a damaged file (found by tests/e2e/test_fuzz.py; Image.open itself catches most).
Anything else a decoder raises (AVIF's RuntimeError, DDS's NotImplementedError...) is refused too, as corrupt."""
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
"""The only formats Pillow is asked to open: what cameras, phones and browsers write and what every browser
decodes (so private mode reads the same files). PSD, BLP, DDS, ICNS, JPEG 2000, AVIF, TIFF, EPS (Ghostscript) and
Pillow's other formats are refused from their first bytes, and their decoders never run."""
COLOUR_CONSTANCY = ("none", "shades_of_gray")
"""Shades of Gray (Finlayson and Trezzi 2004) estimates each photo's light colour and removes it, so that the model
sees the lesion rather than the dermatoscope's colour cast (Barata et al. 2015 for dermoscopy)."""
SHADES_OF_GRAY_POWER = 6
GREY_BELOW = 2.0
"""Under this colour spread (lesion.preprocess.colour_spread) of the colour-corrected pixels, which the model sees, an
image counts as grey, whatever its file's mode. Colour constancy turns a tinted grey photo grey too: grey copies of
the examples have 0, tinted ones about 0.6 (as JPEGs 1-2.7); HAM10000's least colourful image has 3.25, Derm7pt's 4.4."""


class InvalidImageError(ValueError):
    """The input cannot be classified; the message says why and what to do."""


@dataclass(frozen=True)
class InputSpec:
    """What a model bundle expects: pixel size and the normalisation (x - mean) / std."""

    height: int = 150
    width: int = 200
    mean: float = 127.0
    std: float = 128.0
    colour_constancy: str = "none"

    def __post_init__(self):
        if self.colour_constancy not in COLOUR_CONSTANCY:
            raise ValueError(f"colour_constancy must be one of {COLOUR_CONSTANCY}, not {self.colour_constancy!r}")

    @classmethod
    def from_config(cls, config: dict) -> InputSpec:
        return cls(**config["input"])

    def to_config(self) -> dict:
        return {"height": self.height, "width": self.width, "mean": self.mean, "std": self.std,
                "colour_constancy": self.colour_constancy}


class DecodeBudget:
    """Bytes of decoded pixels that all requests together may hold; a decode that would go over waits its turn.

    A decode larger than the whole budget runs alone.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._used = 0
        self._changed = threading.Condition()

    @contextmanager
    def reserve(self, size: int):
        size = min(size, self.limit)
        with self._changed:
            self._changed.wait_for(lambda: self._used + size <= self.limit)
            self._used += size
        try:
            yield
        finally:
            with self._changed:
                self._used -= size
                self._changed.notify_all()


DECODE_BUDGET = DecodeBudget(256 * 2**20)
"""256 MB of decoded pixels at once in the whole process: one image of MAX_PIXELS takes 160 MB, plus its reduced
copy, so a second one that large waits. Decoding is the only step whose memory grows with the upload."""


def load_image(source, *, target_size: tuple[int, int] | None = None) -> tuple[Image.Image, list[str]]:
    """Decode an image and bring it upright in RGB, within a fixed memory budget.

    The size in the file's header is checked before anything is decoded, and DECODE_BUDGET bounds what all
    decodes in the process hold at once. With target_size, the decoded image is shrunk by whole factors
    (`Image.reduce`, a band of rows at a time) to about REDUCING_GAP times that size, converting to 8-bit RGB on the
    way: no converted copy of the full-size image is made.

    Args:
        source: a path, raw bytes, a binary file object, a PIL image or an HxW(x3/4) uint8 array.
        target_size: (width, height) the image is about to be resized to; the result stays at least this big.

    Returns:
        The RGB image and notes on what was converted, for the user to see.

    Raises:
        InvalidImageError: empty, not an image, corrupt or truncated, too large or too small.
    """
    notes: list[str] = []
    image = _open(source)
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise InvalidImageError(
            f"The image is {width}x{height} pixels, too large: at most {MAX_PIXELS // 1_000_000} megapixels are accepted; "
            "please upload a smaller copy."
        )
    if min(width, height) < MIN_SIDE:
        raise InvalidImageError(
            f"The image is only {width}x{height} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed. Please upload a larger photo."
        )
    try:
        frames = getattr(image, "n_frames", 1)
        if frames > 1:
            notes.append(f"Animated image with {frames} frames: only the first frame was classified.")
            image.seek(0)
    except CORRUPT_FILE_ERRORS as error:
        raise corrupt_file_error(error) from None
    factor = _reduction_factor(image.size, target_size)
    reduced_pixels = -(-image.width // factor) * -(-image.height // factor)
    with DECODE_BUDGET.reserve((width * height + reduced_pixels) * BYTES_PER_PIXEL):
        try:
            image.load()
            transpose = EXIF_TRANSPOSE.get(image.getexif().get(EXIF_ORIENTATION, 1))
        except CORRUPT_FILE_ERRORS as error:
            raise corrupt_file_error(error) from None
        if transpose is not None:
            notes.append("Rotated upright using the photo's EXIF orientation.")
        try:
            image = _to_rgb(image, notes, factor)
        except ValueError:
            raise InvalidImageError(f"Images in Pillow's {image.mode} mode cannot be converted to RGB; "
                                    "please upload a JPEG or PNG photo.") from None
    return (image.transpose(transpose) if transpose is not None else image), notes


def corrupt_file_error(error: Exception) -> InvalidImageError:
    """The refusal of a file whose decoder failed; the decoder's message, or its exception's name, says where."""
    return InvalidImageError(f"The image file is corrupt or truncated ({error or type(error).__name__}); please upload it again.")


def _open(source) -> Image.Image:
    """The image, opened from its header only: nothing is decoded yet."""
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return Image.fromarray(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise InvalidImageError(f"No image file at {path}.")
        data = path.read_bytes()
    elif isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        data = source.read()
    if not data:
        raise InvalidImageError("The file is empty; please choose an image file (JPEG or PNG).")
    try:
        return Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as error:
        raise InvalidImageError(f"The image is too large to decode safely ({error}); please upload a smaller copy.") from None
    except Exception:  # noqa: BLE001 - UnidentifiedImageError, or whatever a format's header parser raises
        raise InvalidImageError("The file is not an image that can be read; please upload a JPEG or PNG photo.") from None


def _reduction_factor(size: tuple[int, int], target_size: tuple[int, int] | None) -> int:
    """The largest whole factor that keeps the image at least REDUCING_GAP times target_size, in either orientation."""
    if not target_size:
        return 1
    long_side, short_side = max(size), min(size)
    return max(1, min(long_side // (REDUCING_GAP * max(target_size)), short_side // (REDUCING_GAP * min(target_size))))


def _to_rgb(image: Image.Image, notes: list[str], factor: int = 1) -> Image.Image:
    """8-bit RGB, reduced by factor; transparent areas become black, 16-bit values are scaled to 8 bits."""
    mode = image.mode
    if mode in ("RGB", "L") and factor > 1:
        image, factor = image.reduce(factor), 1  # Pillow reduces these modes directly, making only the small copy
    if mode == "RGB":
        return image
    if mode in SIXTEEN_BIT_MODES:
        notes.append("16-bit image: scaled to 8 bits.")
        peak = 65535.0 if max(int(np.asarray(band).max()) for _, band in _bands(image, STRIP_ROWS)) > 255 else 255.0
        return _shrink(image, factor, lambda strip: _to_8_bit(strip, peak)).convert("RGB")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        premultiplied = _shrink(image, factor, lambda strip: strip.convert("RGBA").convert("RGBa"))
        if premultiplied.getextrema()[3][0] < 255:
            notes.append("Transparent areas were filled with black, like the dark corners of a dermoscope.")
        return Image.merge("RGB", premultiplied.split()[:3])  # premultiplied colours are the image over black
    if mode == "CMYK":
        notes.append("CMYK image: converted to RGB.")
    return _shrink(image, factor, lambda strip: strip.convert("RGB"))


def _to_8_bit(strip: Image.Image, peak: float) -> Image.Image:
    values = np.asarray(strip, dtype=np.float64)
    return Image.fromarray(np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8))


def _shrink(image: Image.Image, factor: int, convert) -> Image.Image:
    """convert(band), then `Image.reduce(factor)`, a band of rows at a time: the same pixels as converting and
    reducing the whole image, without ever holding a converted full-size copy when factor > 1."""
    reduced = None
    for top, band in _bands(image, factor * max(1, STRIP_ROWS // factor)):
        band = convert(band)
        if factor > 1:
            band = band.reduce(factor)
        if reduced is None:
            reduced = Image.new(band.mode, (-(-image.width // factor), -(-image.height // factor)))
        reduced.paste(band, (0, top // factor))
    return reduced


def _bands(image: Image.Image, rows: int):
    """(top row, a copy of the next `rows` rows) down the image."""
    for top in range(0, image.height, rows):
        yield top, image.crop((0, top, image.width, min(top + rows, image.height)))


def fit_to_input(image: Image.Image, spec: InputSpec) -> np.ndarray:
    """Turn portrait images to landscape, centre-crop to the input's aspect ratio and resize.

    Lesions have no up or down, so a quarter turn loses nothing and a crop loses less.

    Returns:
        uint8 array of shape (spec.height, spec.width, 3).
    """
    if (image.height > image.width) != (spec.height > spec.width) and image.height != image.width:
        image = image.transpose(Image.Transpose.ROTATE_90)
    crop = _centre_crop_box(image.width, image.height, spec.width / spec.height)
    if crop != (0, 0, image.width, image.height) or image.size != (spec.width, spec.height):
        image = image.resize((spec.width, spec.height), Image.Resampling.LANCZOS, box=crop)
    return np.asarray(image, dtype=np.uint8)


def _centre_crop_box(width: int, height: int, aspect: float) -> tuple[int, int, int, int]:
    """The largest centred box of the given width/height ratio."""
    if width / height > aspect:
        new_width = round(height * aspect)
        left = (width - new_width) // 2
        return (left, 0, left + new_width, height)
    new_height = round(width / aspect)
    top = (height - new_height) // 2
    return (0, top, width, top + new_height)


def colour_spread(pixels: np.ndarray) -> float:
    """The mean over pixels of the largest difference between their channels, in 8-bit levels: 0 for a grey image."""
    pixels = np.asarray(pixels, np.int16)
    return float((pixels.max(axis=-1) - pixels.min(axis=-1)).mean())


def is_grey(corrected: np.ndarray) -> bool:
    """True for an image without colour once colour-corrected (correct_colour): the model, trained on colour photos,
    is often wrong on those."""
    return colour_spread(corrected) < GREY_BELOW


def shades_of_gray(pixels: np.ndarray, power: int = SHADES_OF_GRAY_POWER) -> np.ndarray:
    """Divide out the light's colour, estimated per channel as the Minkowski p-mean; grey stays grey.

    Args:
        pixels: uint8 (height, width, 3).

    Returns:
        uint8 (height, width, 3) whose channels have equal p-means (up to clipping).
    """
    values = pixels.astype(np.float32)
    light = np.power(np.mean(np.power(values, power), axis=(0, 1)), 1.0 / power)
    gains = light.mean() / np.maximum(light, 1e-6)
    return np.clip(values * gains + 0.5, 0, 255).astype(np.uint8)


def correct_colour(pixels: np.ndarray, spec: InputSpec) -> np.ndarray:
    """The spec's colour constancy step on uint8 (height, width, 3) pixels."""
    return shades_of_gray(pixels) if spec.colour_constancy == "shades_of_gray" else pixels


def normalise(pixels, spec: InputSpec):
    """(pixels - mean) / std. Works on NumPy arrays and TensorFlow tensors alike, so training uses it too."""
    return (pixels - spec.mean) / spec.std


def decode(source, spec: InputSpec) -> tuple[Image.Image, list[str]]:
    """load_image, shrinking a large image to about twice the model's input."""
    return load_image(source, target_size=(spec.width, spec.height))


def prepare_pixels(source, spec: InputSpec) -> tuple[np.ndarray, list[str]]:
    """Decode, orient, convert, fit and colour-correct one image: uint8 (height, width, 3) and notes. Training caches these."""
    image, notes = decode(source, spec)
    return correct_colour(fit_to_input(image, spec), spec), notes
