"""Where the model looks: the class activation map of one class, drawn over the image as the model got it (cropped
and resized; shown in its own colours, before colour correction).

The served model outputs each cell's contribution to each class's logit (training/export.py); the map of a class is
that slice, so it costs no second inference.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

# Anchor colours of a perceptually ordered dark-to-bright scale (after matplotlib's "inferno"), from low to high.
_ANCHORS = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], np.float64)
OPACITY = 0.5
"""How much of the heat colour covers the image at the map's peak; cold cells leave the image as it is."""
SCALE = 2
"""The overlay is drawn at twice the model's input size, so it is legible on a page."""
PNG_COMPRESSION = 1


def class_map(class_maps: np.ndarray, class_index: int) -> np.ndarray:
    """The (rows, columns) map of one class, scaled to [0, 1] (0 where the class has least evidence).

    A flat map (no cell stands out) is all zeros.
    """
    values = np.asarray(class_maps, np.float64)[..., class_index]
    spread = values.max() - values.min()
    return (values - values.min()) / spread if spread > 1e-9 else np.zeros_like(values)


def colourise(values: np.ndarray) -> np.ndarray:
    """[0, 1] values -> uint8 RGB along the dark-to-bright scale."""
    positions = np.clip(values, 0, 1) * (len(_ANCHORS) - 1)
    channels = [np.interp(positions, np.arange(len(_ANCHORS)), _ANCHORS[:, c]) for c in range(3)]
    return np.stack(channels, axis=-1).round().astype(np.uint8)


_ALPHA = OPACITY * (np.arange(256) / 255.0)
_KEEP = (1 - _ALPHA).astype(np.float32)
_ADD = (colourise(np.arange(256) / 255.0) * _ALPHA[:, None]).astype(np.float32)
"""For each of the 256 levels an enlarged uint8 map can take: how much of the image stays, and the heat colour added
(opacity times colourise), so that a blend is two lookups, in float32 (half float64's time; at most one grey level
apart)."""


def overlay(pixels: np.ndarray, heat: np.ndarray) -> Image.Image:
    """Blend a [0, 1] (rows, columns) map, smoothly enlarged, over a uint8 (height, width, 3) image.

    Returns:
        An RGB image SCALE times the size of `pixels`; hotter cells are more opaque.
    """
    return _blend(enlarged(pixels), heat)


def enlarged(pixels: np.ndarray) -> Image.Image:
    """The image the model saw, SCALE times its size."""
    return Image.fromarray(pixels).resize((pixels.shape[1] * SCALE, pixels.shape[0] * SCALE), Image.Resampling.BICUBIC)


def _blend(base: Image.Image, heat: np.ndarray) -> Image.Image:
    levels = np.asarray(Image.fromarray((np.clip(heat, 0, 1) * 255).astype(np.uint8)).resize(base.size, Image.Resampling.BILINEAR))
    blended = np.asarray(base, np.float32) * _KEEP[levels][..., None] + _ADD[levels]
    return Image.fromarray((blended + 0.5).astype(np.uint8))  # rounded: every value is at least 0


def png_bytes(image: Image.Image) -> bytes:
    """image as PNG, compressed lightly: level 1 takes a fifth of the default's time for a few more kilobytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESSION)
    return buffer.getvalue()


def before_and_after(pixels: np.ndarray, class_maps: np.ndarray, class_index: int) -> tuple[Image.Image, Image.Image]:
    """(the image the model saw, the same with one class's map over it), both at the overlay's size."""
    seen = enlarged(pixels)
    return seen, _blend(seen, class_map(class_maps, class_index))
