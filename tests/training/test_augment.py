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


@pytest.mark.parametrize("kind", ["mixup", "cutmix"])
def test_batch_mix_mixes_targets_and_loss_weights_alike(kind, ham_pixels):
    """Each image's loss weight is its class weights in the shares its target gives the two classes it mixes."""
    class_weight = np.arange(1.0, 8.0, dtype=np.float32)
    labels = np.arange(len(ham_pixels)) % 7
    targets = np.eye(7, dtype=np.float32)[labels]
    images, mixed_targets, weights = map(np.asarray, augment.batch_mixer(kind, seed=0)(ham_pixels, targets, class_weight[labels]))
    assert images.shape == ham_pixels.shape and images.min() >= 0 and images.max() <= 255
    np.testing.assert_allclose(mixed_targets.sum(axis=1), 1.0, atol=1e-5)
    assert (mixed_targets.max(axis=1) < 1 - 1e-3).sum() >= len(labels) // 2  # most images really mix
    np.testing.assert_allclose(weights, mixed_targets @ class_weight, rtol=1e-5)


def test_batch_mix_none_and_unknown():
    assert augment.batch_mixer("none", seed=0) is None
    with pytest.raises(ValueError, match="batch mix must be one of"):
        augment.batch_mixer("blend", seed=0)
