"""Training-time augmentation: only the training path uses it; evaluation and serving see each image as it is.

Dermoscopy has no up or down, so it flips and rotates freely. The rest imitates what differs between
clinics: how much of the frame a lesion fills (zoom), the light and the camera's colour response (brightness,
contrast, saturation, hue, gamma), focus (blur) and the dermatoscope's dark rim (vignetting).
"""

from __future__ import annotations

import keras
import tensorflow as tf


def augmenter(seed: int):
    """A function from a float32 batch (batch, height, width, 3) in [0, 255] to an augmented batch in [0, 255]: the
    served recipe's geometry (flips, free rotation, multi-scale zoom, shifts) and a camera's worth of photometric
    change (brightness, contrast, saturation, hue, blur, gamma and the dermatoscope's vignetting)."""
    layers = [
        keras.layers.RandomFlip("horizontal_and_vertical", seed=seed),
        keras.layers.RandomRotation(0.5, fill_mode="reflect", seed=seed),
        # Negative zoom is a close-up: from a lesion that fills half the frame to one that fills all of it.
        keras.layers.RandomZoom((-0.5, 0.2), fill_mode="reflect", seed=seed),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=seed),
        keras.layers.RandomBrightness(0.2, value_range=(0, 255), seed=seed),
        keras.layers.RandomContrast(0.3, value_range=(0, 255), seed=seed),
        keras.layers.RandomSaturation((0.3, 0.7), value_range=(0, 255), seed=seed),
        keras.layers.RandomHue(0.05, value_range=(0, 255), seed=seed),
        keras.layers.RandomGaussianBlur(0.5, kernel_size=5, sigma=(0.1, 1.5), value_range=(0, 255), seed=seed),
    ]
    return _chain(layers, [_random_gamma(0.35, seed), _random_vignette(0.6, seed)])


def _chain(layers, functions):
    def augment(images):
        for layer in layers:
            images = layer(images, training=True)
        for function in functions:
            images = function(images)
        return tf.clip_by_value(images, 0.0, 255.0)

    return augment


def _random_gamma(log_range: float, seed: int):
    """255 * (x / 255) ** gamma per image, with log(gamma) uniform in [-log_range, log_range]."""
    def gamma(images):
        exponent = tf.exp(tf.random.uniform([tf.shape(images)[0], 1, 1, 1], -log_range, log_range, seed=seed + 1))
        return 255.0 * tf.pow(tf.clip_by_value(images / 255.0, 0.0, 1.0), exponent)

    return gamma


def _random_vignette(max_strength: float, seed: int):
    """Darken towards the corners by up to max_strength: x * (1 - s * r^2), r = 1 at the corners."""
    def vignette(images):
        shape = tf.shape(images)
        rows = tf.linspace(-1.0, 1.0, shape[1])[:, None]
        cols = tf.linspace(-1.0, 1.0, shape[2])[None, :]
        radius_squared = (rows**2 + cols**2) / 2.0
        strength = tf.random.uniform([shape[0], 1, 1, 1], 0.0, max_strength, seed=seed + 2)
        return images * (1.0 - strength * radius_squared[None, :, :, None])

    return vignette
