"""Drawing the class activation map over the image."""

import numpy as np
import pytest
from PIL import Image

from lesion.bundle import BUNDLED_DIR, load_bundle
from lesion.classifier import Classifier
from lesion.heatmap import SCALE, class_map, colourise, overlay
from lesion.labels import CODES, read_labelled_folder
from tests.conftest import EXAMPLES


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


@pytest.fixture(scope="module")
def classifier():
    return Classifier(load_bundle(BUNDLED_DIR))


def test_every_example_gets_a_map_of_the_models_grid(classifier):
    for path, _ in read_labelled_folder(EXAMPLES):
        prediction = classifier.classify(path)
        heat = class_map(prediction.class_maps, CODES.index(prediction.top))
        assert heat.shape == prediction.class_maps.shape[:2] and heat.max() == 1.0
        assert overlay(prediction.pixels, heat).size == (200 * SCALE, 150 * SCALE)


def test_two_classes_give_different_maps(classifier):
    prediction = classifier.classify(EXAMPLES / "ISIC_0034529.jpg")
    ranked = sorted(range(len(CODES)), key=lambda c: -prediction.probabilities_array[c])
    first, second = (class_map(prediction.class_maps, c) for c in ranked[:2])
    assert np.abs(first - second).max() > 0.1  # both classes look at the lesion, but weigh its parts differently


def test_the_maps_peak_follows_the_lesion(classifier):
    """An example lesion pasted at the left, then at the right, of plain skin: the melanoma map's peak moves with it."""
    lesion = Image.open(EXAMPLES / "ISIC_0034554.jpg").convert("RGB").resize((280, 210))
    skin = np.asarray(Image.open(EXAMPLES / "ISIC_0034554.jpg").convert("RGB"))[:40, :40].reshape(-1, 3).mean(axis=0)
    columns = []
    for left in (20, 500):
        canvas = Image.new("RGB", (800, 600), tuple(int(v) for v in skin))
        canvas.paste(lesion, (left, 195))
        prediction = classifier.classify(np.asarray(canvas))
        heat = class_map(prediction.class_maps, CODES.index(prediction.top))
        columns.append(np.unravel_index(heat.argmax(), heat.shape)[1] / heat.shape[1])
    assert columns[0] < 0.5 < columns[1]
