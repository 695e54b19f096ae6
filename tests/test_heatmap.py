"""Drawing the class activation map over the image."""

import numpy as np

from lesion.heatmap import SCALE, class_map, colourise, overlay


def test_class_map_is_one_class_scaled_to_unit_range():
    maps = np.zeros((5, 7, 7))
    maps[1, 2, 4], maps[3, 3, 4] = 6.0, -2.0
    heat = class_map(maps, 4)
    assert heat.shape == (5, 7) and heat.max() == 1.0 and heat.min() == 0.0
    assert np.unravel_index(heat.argmax(), heat.shape) == (1, 2)
    assert not class_map(maps, 0).any()  # a flat map shows nothing


def test_colour_scale_runs_dark_to_bright():
    colours = colourise(np.linspace(0, 1, 5)).astype(int)
    assert (np.diff(colours.sum(axis=1)) > 0).all()


def test_overlay_is_larger_and_leaves_cold_cells_alone():
    pixels = np.full((150, 200, 3), 120, np.uint8)
    heat = np.zeros((5, 7))
    heat[0, 0] = 1.0
    image = np.asarray(overlay(pixels, heat))
    assert image.shape == (150 * SCALE, 200 * SCALE, 3)
    assert (image[-20:, -20:] == 120).all()  # far from the hot cell: the image as it was
    assert not (image[:10, :10] == 120).all()
