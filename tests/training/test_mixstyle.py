"""MixStyle in the backbone's early stages (training/mixstyle.py): active in training only."""

import numpy as np
import pytest

from training import model
from training.mixstyle import MixStyle

SPEC = model.BACKBONES["efficientnet_lite0"].input_spec()


def _features(seed=0, shape=(8, 6, 5, 4)):
    rng = np.random.default_rng(seed)
    # each image its own per-channel offset and scale: its "style"
    return (rng.normal(size=shape) * rng.uniform(0.5, 3, (shape[0], 1, 1, shape[3]))
            + rng.uniform(-5, 5, (shape[0], 1, 1, shape[3]))).astype(np.float32)


def test_inference_passes_the_features_through():
    features = _features()
    assert np.array_equal(np.asarray(MixStyle(1.0)(features, training=False)), features)


def test_training_gives_each_image_statistics_between_its_own_and_another_images():
    features = _features()
    mixed = np.asarray(MixStyle(1.0, seed=3)(features, training=True))
    assert not np.allclose(mixed, features, atol=1e-3)
    mean, new_mean = features.mean(axis=(1, 2)), mixed.mean(axis=(1, 2))
    low, high = mean.min(axis=0), mean.max(axis=0)
    assert np.all((new_mean >= low - 1e-4) & (new_mean <= high + 1e-4))
    # the pattern inside each image and channel is kept: only its mean and spread change
    def standardised(x):
        return (x - x.mean(axis=(1, 2), keepdims=True)) / x.std(axis=(1, 2), keepdims=True)
    assert np.abs(standardised(mixed) - standardised(features)).max() < 1e-2


def test_a_batch_of_one_style_is_left_as_it_is():
    features = np.repeat(_features(shape=(1, 6, 5, 4)), 6, axis=0)
    assert np.abs(np.asarray(MixStyle(1.0, seed=1)(features, training=True)) - features).max() < 1e-3


def test_the_backbone_with_mixstyle_serves_exactly_as_the_one_without():
    plain = model.build_classifier(model.build_backbone("efficientnet_lite0", SPEC, weights=None))
    mixing = model.build_classifier(model.build_backbone("efficientnet_lite0", SPEC, weights=None, mixstyle=0.5))
    mixing.set_weights(plain.get_weights())
    names = [layer.name for layer in model.backbone_of(mixing).layers if isinstance(layer, MixStyle)]
    assert names == ["stage0_mixstyle", "stage1_mixstyle", "stage2_mixstyle"]
    images = np.random.default_rng(0).uniform(-1, 1, (2, SPEC.height, SPEC.width, 3)).astype(np.float32)
    assert np.array_equal(np.asarray(mixing(images, training=False)), np.asarray(plain(images, training=False)))


def test_mixstyle_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="probability"):
        MixStyle(0.0)
    with pytest.raises(ValueError, match="EfficientNet-Lite backbones only"):
        model.build_backbone("mobilenet_v2", model.BACKBONES["mobilenet_v2"].input_spec(), weights=None, mixstyle=0.5)
