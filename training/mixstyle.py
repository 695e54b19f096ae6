"""MixStyle (Zhou et al., ICLR 2021): in training only, mix the per-channel feature statistics of two images.

A camera shows in the mean and spread of each channel of the early feature maps (its colour, contrast and
texture), and the diagnosis shows in their pattern. MixStyle normalises an image's early features and gives them
a convex mix of its own statistics and those of another image in the batch, so that the later layers learn to
read the pattern whatever the camera. At inference the layer passes its input through: the served model has no op
of it.
"""

from __future__ import annotations

import keras

ALPHA = 0.1
"""The mixing weight is drawn from Beta(ALPHA, ALPHA): mostly near 0 or 1, as in the paper."""
EPSILON = 1e-6


@keras.saving.register_keras_serializable("lesion")
class MixStyle(keras.layers.Layer):
    """Mix the instance statistics of (batch, height, width, channels) features with a shuffled batch's.

    With probability `probability` a training batch is mixed; otherwise, and always at inference, it passes as it is.
    """

    def __init__(self, probability: float, seed: int | None = None, **kwargs):
        super().__init__(trainable=False, **kwargs)
        if not 0 < probability <= 1:
            raise ValueError(f"MixStyle's probability must lie in (0, 1], not {probability}")
        self.probability = float(probability)
        self.seed = seed
        self._generator = keras.random.SeedGenerator(seed)

    def call(self, features, training=False):
        if not training:
            return features
        batch = keras.ops.shape(features)[0]
        mean = keras.ops.stop_gradient(keras.ops.mean(features, axis=(1, 2), keepdims=True))
        std = keras.ops.stop_gradient(keras.ops.sqrt(keras.ops.var(features, axis=(1, 2), keepdims=True) + EPSILON))
        weight = keras.random.beta((batch, 1, 1, 1), ALPHA, ALPHA, seed=self._generator)
        order = keras.random.shuffle(keras.ops.arange(batch), seed=self._generator)
        mixed_mean = weight * mean + (1 - weight) * keras.ops.take(mean, order, axis=0)
        mixed_std = weight * std + (1 - weight) * keras.ops.take(std, order, axis=0)
        mixed = (features - mean) / std * mixed_std + mixed_mean
        apply = keras.random.uniform((), seed=self._generator) < self.probability
        return keras.ops.where(apply, mixed, features)

    def get_config(self):
        return {**super().get_config(), "probability": self.probability, "seed": self.seed}
