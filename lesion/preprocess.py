"""The one preprocessing path shared by training, evaluation and the app.

decode -> checks -> EXIF orientation -> RGB -> landscape -> centre crop -> resize -> colour constancy -> normalise.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MIN_SIDE = 32
"""Smaller images hold no usable detail; they are refused, not upscaled."""
MAX_PIXELS = 40_000_000
"""Above this (a 7,300x5,500 photo) decoding alone would cost the server too much memory."""


EXIF_ORIENTATION = 0x0112
COLOUR_CONSTANCY = ("none", "shades_of_gray")
"""Shades of Gray (Finlayson and Trezzi 2004) estimates each photo's light colour and removes it, so that the model
sees the lesion rather than the dermatoscope's colour cast (Barata et al. 2015 for dermoscopy)."""
SHADES_OF_GRAY_POWER = 6


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
    def from_config(cls, config: dict) -> "InputSpec":
        return cls(**config["input"])

    def to_config(self) -> dict:
        return {"height": self.height, "width": self.width, "mean": self.mean, "std": self.std,
                "colour_constancy": self.colour_constancy}


def load_image(source, *, draft_size: tuple[int, int] | None = None) -> tuple[Image.Image, list[str]]:
    """Decode an image and bring it upright in RGB.

    Args:
        source: a path, raw bytes, a binary file object, a PIL image or an HxW(x3/4) uint8 array.
        draft_size: for JPEGs, let the decoder shrink by a power of two while staying at least this big.

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
    if getattr(image, "n_frames", 1) > 1:
        notes.append(f"Animated image with {image.n_frames} frames: only the first frame was classified.")
        image.seek(0)
    if draft_size and image.format == "JPEG":
        image.draft("RGB", draft_size)
    try:
        image.load()
        if image.getexif().get(EXIF_ORIENTATION, 1) != 1:
            image = ImageOps.exif_transpose(image)
            notes.append("Rotated upright using the photo's EXIF orientation.")
    except (OSError, SyntaxError, ValueError) as error:
        raise InvalidImageError(f"The image file is corrupt or truncated ({error}); please upload it again.") from None
    return _to_rgb(image, notes), notes


def _open(source) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return Image.fromarray(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise InvalidImageError(f"No image file at {path}.")
        source = path.read_bytes()
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    data = source.read()
    if not data:
        raise InvalidImageError("The file is empty; please choose an image file (JPEG or PNG).")
    try:
        return Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InvalidImageError("The file is not an image that can be read; please upload a JPEG or PNG photo.") from None
    except Image.DecompressionBombError as error:
        raise InvalidImageError(f"The image is too large to decode safely ({error}); please upload a smaller copy.") from None


def _to_rgb(image: Image.Image, notes: list[str]) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        notes.append("16-bit image: scaled to 8 bits.")
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if values.max() > 255 else 255.0
        return Image.fromarray(np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        if rgba.getchannel("A").getextrema()[0] < 255:
            notes.append("Transparent areas were filled with black, like the dark corners of a dermoscope.")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("L", "1"):
        notes.append("Grayscale image: the model was trained on colour photos, so expect less reliable results.")
    elif mode == "CMYK":
        notes.append("CMYK image: converted to RGB.")
    return image.convert("RGB")


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


def normalise(pixels, spec: InputSpec):
    """(pixels - mean) / std. Works on NumPy arrays and TensorFlow tensors alike, so training uses it too."""
    return (pixels - spec.mean) / spec.std


def decode(source, spec: InputSpec) -> tuple[Image.Image, list[str]]:
    """load_image, letting a JPEG decode at the smallest scale that still covers the model's input."""
    return load_image(source, draft_size=(spec.width, spec.height))


def fit_pixels(image: Image.Image, spec: InputSpec) -> np.ndarray:
    """Fit one decoded image to the input and colour-correct it: uint8 (height, width, 3)."""
    pixels = fit_to_input(image, spec)
    if spec.colour_constancy == "shades_of_gray":
        pixels = shades_of_gray(pixels)
    return pixels


def prepare_pixels(source, spec: InputSpec) -> tuple[np.ndarray, list[str]]:
    """Decode, orient, convert, fit and colour-correct one image: uint8 (height, width, 3) and notes. Training caches these."""
    image, notes = decode(source, spec)
    return fit_pixels(image, spec), notes


def model_input(image: Image.Image, spec: InputSpec) -> np.ndarray:
    """fit_pixels, then normalise: the model's float32 (height, width, 3) input for one decoded image."""
    return normalise(fit_pixels(image, spec).astype(np.float32), spec)


def preprocess(source, spec: InputSpec) -> tuple[np.ndarray, list[str]]:
    """decode, then model_input: the model's float32 (height, width, 3) input, and notes."""
    image, notes = decode(source, spec)
    return model_input(image, spec), notes
