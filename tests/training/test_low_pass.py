"""The fixed Gaussian low-pass filter at the network's input (training/low_pass.py)."""

import numpy as np
import pytest
from scipy.ndimage import correlate1d

from training import model
from training.low_pass import GaussianLowPass, gaussian_taps


def test_blur_is_the_renormalised_gaussian_convolution():
    images = np.random.default_rng(0).normal(size=(2, 30, 40, 3)).astype(np.float32)
    taps = gaussian_taps(1.0)
    def blur(x):
        return correlate1d(correlate1d(x, taps, axis=1, mode="constant"), taps, axis=2, mode="constant")
    expected = blur(images) / blur(np.ones_like(images))
    assert np.abs(np.asarray(GaussianLowPass(1.0)(images)) - expected).max() < 1e-5


def test_a_uniform_image_stays_uniform_to_its_borders():
    image = np.full((1, 15, 20, 3), 0.7, np.float32)
    assert np.abs(np.asarray(GaussianLowPass(1.5)(image)) - 0.7).max() < 1e-6


def test_a_point_spreads_into_a_gaussian_of_that_width():
    image = np.zeros((1, 41, 41, 1), np.float32)
    image[0, 20, 20] = 1.0
    blurred = np.asarray(GaussianLowPass(2.0)(image))[0, :, :, 0]
    rows = np.arange(41) - 20
    spread = np.sqrt((blurred.sum(axis=1) * rows**2).sum())
    assert blurred.sum() == pytest.approx(1.0, abs=1e-5) and spread == pytest.approx(2.0, rel=0.05)
    assert np.unravel_index(blurred.argmax(), blurred.shape) == (20, 20)


def test_low_pass_sits_inside_the_backbone_before_the_stem():
    spec = model.BACKBONES["efficientnet_lite0"].input_spec()
    backbone = model.build_backbone("efficientnet_lite0", spec, weights=None, low_pass=1.0)
    assert isinstance(backbone.layers[1], GaussianLowPass) and backbone.layers[2].name == "stem_conv"


def test_low_pass_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="positive"):
        GaussianLowPass(0.0)
    with pytest.raises(ValueError, match="EfficientNet-Lite backbones only"):
        model.build_backbone("mobilenet_v2", model.BACKBONES["mobilenet_v2"].input_spec(), weights=None, low_pass=1.0)
