"""What fitting sees: class weights and the tf.data batches of training and validation."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lesion.labels import CODES
from lesion.preprocess import InputSpec, normalise
from training import augment


def class_weights(labels: np.ndarray, power: float) -> np.ndarray:
    """Loss weight per class: (count of the largest class / count of the class) ** power, normalised to mean 1 per image."""
    counts = np.bincount(labels, minlength=len(CODES)).astype(np.float64)
    weights = (counts.max() / np.maximum(counts, 1)) ** power
    return weights / (weights[labels].mean() if len(labels) else 1.0)


MIN_CELL = 50
"""A source's images of a class that source balancing draws as often as another source's: fewer keep their own weight,
so that a handful of images is not repeated many times over."""


def source_balanced_draws(labels: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Probability of drawing each training image: within each class, every source holding at least MIN_CELL of its
    images gets an equal share of those sources' draws; smaller groups are drawn as often as the data has them, and each
    class keeps its count."""
    labels, sources = np.asarray(labels), np.asarray(sources)
    weights = np.ones(len(labels))
    for code in np.unique(labels):
        cells = [(labels == code) & (sources == source) for source in np.unique(sources[labels == code])]
        large = [cell for cell in cells if cell.sum() >= MIN_CELL]
        for cell in large:
            weights[cell] = sum(c.sum() for c in large) / len(large) / cell.sum()
    return weights / weights.sum()


def extra_weighted_draws(labels: np.ndarray, sources: np.ndarray, home: str, weight: float) -> np.ndarray:
    """Probability of drawing each training image: within each class, an image of a source other than `home` is drawn
    `weight` times as often as one of `home`, and each class keeps its count."""
    labels, sources = np.asarray(labels), np.asarray(sources)
    scale = np.where(sources == home, 1.0, weight)
    weights = np.ones(len(labels))
    for code in np.unique(labels):
        cell = labels == code
        weights[cell] = scale[cell] * cell.sum() / scale[cell].sum()
    return weights / weights.sum()


def one_hot(labels: np.ndarray) -> np.ndarray:
    """float32 (N, 7) one-hot rows for integer labels: the training targets."""
    return np.eye(len(CODES), dtype=np.float32)[labels]


def training_dataset(pixels, labels, weights, spec: InputSpec, *, batch_size: int, seed: int,
                     draws: np.ndarray | None = None) -> tuple[tf.data.Dataset, int]:
    """Augmented (normalised image, one-hot target, sample weight) batches, and the steps that make one epoch; the
    sample weight is the label's class weight.

    An epoch is a shuffled pass over the data, or, given `draws` (a probability per image), as many images drawn with
    replacement.
    """
    if draws is None:
        dataset = tf.data.Dataset.from_tensor_slices((pixels, labels, one_hot(labels))).shuffle(
            len(labels), seed=seed, reshuffle_each_iteration=True)
    else:
        rng = np.random.default_rng(seed)
        images, classes, targets = tf.constant(pixels), tf.constant(labels), tf.constant(one_hot(labels))
        dataset = tf.data.Dataset.from_generator(lambda: rng.choice(len(labels), size=len(labels), p=draws),
                                                 output_signature=tf.TensorSpec((), tf.int64))
        dataset = dataset.map(lambda row: (tf.gather(images, row), tf.gather(classes, row), tf.gather(targets, row)))
    steps = max(1, len(labels) // batch_size)
    return _to_model(dataset.batch(batch_size), weights, spec, augment.augmenter(seed)).repeat(), steps


def evaluation_dataset(pixels, labels, weights, spec: InputSpec, batch_size: int) -> tf.data.Dataset:
    """(normalised image, one-hot label, sample weight) batches, in order and unaugmented."""
    dataset = tf.data.Dataset.from_tensor_slices((pixels, labels, one_hot(labels)))
    return _to_model(dataset.batch(batch_size), weights, spec, None)


def _to_model(dataset: tf.data.Dataset, weights, spec: InputSpec, augmenter) -> tf.data.Dataset:
    weight_table = tf.constant(weights, tf.float32)

    def to_model(images, label, target):
        images, weight = tf.cast(images, tf.float32), tf.gather(weight_table, label)
        if augmenter is not None:
            images = augmenter(images)
        return normalise(images, spec), target, weight

    return dataset.map(to_model, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
