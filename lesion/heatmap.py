"""Where the model looks: the class activation map of one class, drawn over the image the model saw.

The served model outputs each cell's contribution to each class's logit (training/export.py); the map of a class is
that slice, so it costs no second inference.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Anchor colours of a perceptually ordered dark-to-bright scale (after matplotlib's "inferno"), from low to high.
_ANCHORS = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], np.float64)
OPACITY = 0.5
"""How much of the heat colour covers the image at the map's peak; cold cells leave the image as it is."""
SCALE = 2
"""The overlay is drawn at twice the model's input size, so it is legible on a page."""


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


def overlay(pixels: np.ndarray, heat: np.ndarray) -> Image.Image:
    """Blend a [0, 1] (rows, columns) map, smoothly enlarged, over a uint8 (height, width, 3) image.

    Returns:
        An RGB image SCALE times the size of `pixels`; hotter cells are more opaque.
    """
    height, width = pixels.shape[0] * SCALE, pixels.shape[1] * SCALE
    base = np.asarray(Image.fromarray(pixels).resize((width, height), Image.Resampling.BICUBIC), np.float64)
    heat_image = Image.fromarray((np.clip(heat, 0, 1) * 255).astype(np.uint8)).resize((width, height), Image.Resampling.BILINEAR)
    smooth = np.asarray(heat_image, np.float64) / 255.0
    alpha = OPACITY * smooth[..., None]
    blended = base * (1 - alpha) + colourise(smooth).astype(np.float64) * alpha
    return Image.fromarray(blended.round().astype(np.uint8))


def before_and_after(pixels: np.ndarray, class_maps: np.ndarray, class_index: int) -> tuple[Image.Image, Image.Image]:
    """(the image the model saw, the same with one class's map over it), both at the overlay's size."""
    overlaid = overlay(pixels, class_map(class_maps, class_index))
    return Image.fromarray(pixels).resize(overlaid.size, Image.Resampling.BICUBIC), overlaid
