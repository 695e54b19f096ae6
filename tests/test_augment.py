"""Training-time augmentation (training/augment.py)."""

import keras
import numpy as np
import pytest

from lesion.preprocess import InputSpec, prepare_pixels
from tests.conftest import TINY_DATASET
from training import augment
from training.data import image_sources, load_ham10000
from training.sharpness import detail


@pytest.fixture(scope="module")
def ham_pixels() -> np.ndarray:
    dataset = load_ham10000(str(TINY_DATASET))
    return np.stack([prepare_pixels(source, InputSpec())[0] for source in image_sources(dataset)[:16]]).astype(np.float32)


@pytest.mark.parametrize("strength", augment.STRENGTHS)
def test_every_strength_keeps_shape_and_range(strength, ham_pixels):
    augmented = np.asarray(augment.augmenter(strength, seed=0)(ham_pixels))
    assert augmented.shape == ham_pixels.shape
    assert augmented.min() >= 0 and augmented.max() <= 255
    assert not np.allclose(augmented, ham_pixels)


def test_sharpening_reaches_the_detail_of_downsized_photos(ham_pixels):
    """At its strongest, sharpening gives HAM10000's images about the 1.3-1.8 times more fine detail that Derm7pt's
    and full-size photos keep after lesion.preprocess (python -m training.sharpness)."""
    sharpest = keras.layers.RandomSharpness((augment.SHARPEN[1],) * 2, value_range=(0, 255))
    untouched = keras.layers.RandomSharpness((augment.SHARPEN[0],) * 2, value_range=(0, 255))
    before = detail(ham_pixels).mean()
    assert detail(np.asarray(untouched(ham_pixels, training=True))).mean() == pytest.approx(before, rel=0.01)
    assert 1.3 < detail(np.asarray(sharpest(ham_pixels, training=True))).mean() / before < 1.8


def test_unknown_strength():
    with pytest.raises(ValueError, match="augmentation must be one of"):
        augment.augmenter("extreme", seed=0)


def test_wide_views_shrink_the_lesion_further():
    """strong_wide's widest views, zoomed out as far as WIDE_ZOOM_OUT, leave a lesion smaller than strong's do."""
    images = np.full((128, 150, 200, 3), 255.0, np.float32)
    images[:, 55:95, 80:120] = 0.0  # a dark square "lesion" in the middle of white skin

    def smallest_areas(strength):
        augmented = np.asarray(augment.augmenter(strength, seed=0)(images))
        return np.percentile((augmented.mean(axis=-1) < 90).mean(axis=(1, 2)), 10)

    assert smallest_areas("strong_wide") < 0.8 * smallest_areas("strong")
