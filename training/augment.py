"""Training-time augmentation: only the training path uses it; evaluation and serving see each image as it is.

Dermoscopy has no up or down, so every strength flips and rotates freely. The rest imitates what differs between
clinics: how much of the frame a lesion fills (zoom), the light and the camera's colour response (brightness,
contrast, saturation, hue, gamma), focus (blur), how much fine detail survives downsizing (sharpening) and the
dermatoscope's dark rim (vignetting).
"""

from __future__ import annotations

import keras
import tensorflow as tf

STRENGTHS = ("light", "strong", "strong_sharpen", "strong_wide")
BATCH_MIXES = {"none": None, "mixup": keras.layers.MixUp, "cutmix": keras.layers.CutMix}
"""Mixing of two training images of a batch, keras' layers with their papers' defaults: MixUp (Zhang et al., ICLR
2018) blends them, CutMix (Yun et al., ICCV 2019) pastes a box of one into the other."""
WIDE_ZOOM_OUT = 0.5
"""strong_wide's widest view: the lesion at 1 / 1.5 of its size, the border reflected; strong's is 1 / 1.2. Other
clinics' lesions often fill more of the frame than HAM10000's."""
SHARPEN = (0.5, 1.0)
"""RandomSharpness's range for strong_sharpen: from the image as it is (0.5) to 1.6 times its fine detail (1.0), as
much as full-size photos keep once lesion.preprocess downsizes them (python -m training.sharpness)."""


def augmenter(strength: str, seed: int):
    """A function from a float32 batch (batch, height, width, 3) in [0, 255] to an augmented batch in [0, 255].

    Args:
        strength: "light" (geometry and a little colour), "strong" (multi-scale zoom and a camera's worth of
            photometric change), "strong_sharpen" (strong, and sharpened as much as other sources' photos are) or
            "strong_wide" (strong, with wider views: zoomed out as far as WIDE_ZOOM_OUT).

    Raises:
        ValueError: unknown strength.
    """
    if strength not in STRENGTHS:
        raise ValueError(f"augmentation must be one of {STRENGTHS}, not {strength!r}")
    geometry = [
        keras.layers.RandomFlip("horizontal_and_vertical", seed=seed),
        keras.layers.RandomRotation(0.5, fill_mode="reflect", seed=seed),
    ]
    if strength == "light":
        layers = geometry + [
            keras.layers.RandomZoom((-0.2, 0.1), fill_mode="reflect", seed=seed),
            keras.layers.RandomTranslation(0.08, 0.08, fill_mode="reflect", seed=seed),
            keras.layers.RandomBrightness(0.1, value_range=(0, 255), seed=seed),
            keras.layers.RandomContrast(0.1, value_range=(0, 255), seed=seed),
            keras.layers.RandomSaturation((0.4, 0.6), value_range=(0, 255), seed=seed),
        ]
        return _chain(layers, [])
    layers = geometry + [
        # Negative zoom is a close-up: from a lesion that fills half the frame to one that fills all of it.
        keras.layers.RandomZoom((-0.5, WIDE_ZOOM_OUT if strength == "strong_wide" else 0.2), fill_mode="reflect", seed=seed),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=seed),
        keras.layers.RandomBrightness(0.2, value_range=(0, 255), seed=seed),
        keras.layers.RandomContrast(0.3, value_range=(0, 255), seed=seed),
        keras.layers.RandomSaturation((0.3, 0.7), value_range=(0, 255), seed=seed),
        keras.layers.RandomHue(0.05, value_range=(0, 255), seed=seed),
    ] + [keras.layers.RandomSharpness(SHARPEN, value_range=(0, 255), seed=seed)] * (strength == "strong_sharpen") + [
        keras.layers.RandomGaussianBlur(0.5, kernel_size=5, sigma=(0.1, 1.5), value_range=(0, 255), seed=seed),
    ]
    return _chain(layers, [_random_gamma(0.35, seed), _random_vignette(0.6, seed)])


def batch_mixer(kind: str, seed: int):
    """A function mixing each (image, target, loss weight) of a batch with another's, or None for "none".

    The targets and the loss weights are mixed in the share each image keeps: a mix of a melanoma and a nevus
    weighs what its melanoma share of the melanoma's weight and its nevus share of the nevus's weight add up to.

    Raises:
        ValueError: unknown kind.
    """
    if kind not in BATCH_MIXES:
        raise ValueError(f"batch mix must be one of {tuple(BATCH_MIXES)}, not {kind!r}")
    if BATCH_MIXES[kind] is None:
        return None
    layer = BATCH_MIXES[kind](seed=seed)

    def mix(images, targets, weights):
        mixed = layer({"images": images, "labels": tf.concat([targets, weights[:, None]], axis=1)}, training=True)
        return mixed["images"], mixed["labels"][:, :-1], mixed["labels"][:, -1]

    return mix


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
