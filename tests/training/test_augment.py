"""Training-time augmentation (training/augment.py)."""

import numpy as np
import pytest

from lesion.preprocess import InputSpec, prepare_pixels
from tests.conftest import TINY_DATASET
from training import augment
from training.data import image_sources, load_labelled


@pytest.fixture(scope="module")
def ham_pixels() -> np.ndarray:
    dataset = load_labelled(str(TINY_DATASET))
    return np.stack([prepare_pixels(source, InputSpec())[0] for source in image_sources(dataset)[:16]]).astype(np.float32)


def test_augmentation_keeps_shape_and_range_and_changes_the_images(ham_pixels):
    augmented = np.asarray(augment.augmenter(seed=0)(ham_pixels))
    assert augmented.shape == ham_pixels.shape
    assert augmented.min() >= 0 and augmented.max() <= 255
    assert not np.allclose(augmented, ham_pixels)

