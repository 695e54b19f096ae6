"""A fixed Gaussian low-pass filter at the network's input, part of the model and so of every path through it.

HAM10000's 200x150 images were downsized softly; a photo from any other source, brought to 200x150 by Lanczos in
lesion.preprocess, keeps more fine detail (1.3 to 1.8 times the Laplacian energy for Derm7pt and for ISIC's
full-size images; python -m training.sharpness). A network fitted to HAM10000 reads that extra detail as texture it has never seen. Blurring every input alike, in
training, evaluation and serving, removes the band in which the sources differ. Inside the graph it needs nothing
of the app, the browser's private mode or the TFLite runtime beyond a depthwise convolution and a multiplication.
"""

from __future__ import annotations

import math

import keras
import numpy as np


def gaussian_taps(sigma: float) -> np.ndarray:
    """A normalised 1-D Gaussian kernel reaching 3 sigma each side."""
    radius = max(1, math.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return taps / taps.sum()


class GaussianLowPass(keras.layers.Layer):
    """Separable Gaussian blur of standard deviation `sigma` pixels on (batch, height, width, channels) images.

    At the borders the kernel is cut to the image and renormalised, so a uniform image stays uniform and no
    padding value leaks in. Height and width must be fixed.
    """

    def __init__(self, sigma: float, **kwargs):
        super().__init__(trainable=False, **kwargs)
        if not sigma > 0:
            raise ValueError(f"sigma must be positive, not {sigma}")
        self.sigma = float(sigma)

    def build(self, input_shape):
        height, width, channels = input_shape[1:]
        if height is None or width is None:
            raise ValueError("GaussianLowPass needs a fixed input height and width")
        taps = gaussian_taps(self.sigma)
        self._down = np.tile(taps[:, None, None, None], (1, 1, channels, 1)).astype(np.float32)
        self._across = np.tile(taps[None, :, None, None], (1, 1, channels, 1)).astype(np.float32)
        inside = np.outer(np.convolve(np.ones(height), taps, "same"), np.convolve(np.ones(width), taps, "same"))
        self._renormalise = (1.0 / inside)[None, :, :, None].astype(np.float32)

    def call(self, images):
        images = keras.ops.depthwise_conv(images, self._down, padding="same")
        images = keras.ops.depthwise_conv(images, self._across, padding="same")
        return images * self._renormalise

    def get_config(self):
        return {**super().get_config(), "sigma": self.sigma}
