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


def one_hot(labels: np.ndarray) -> np.ndarray:
    """float32 (N, 7) one-hot rows for integer labels: the training targets."""
    return np.eye(len(CODES), dtype=np.float32)[labels]


def training_dataset(pixels, labels, weights, spec: InputSpec, *, batch_size: int, seed: int) -> tuple[tf.data.Dataset, int]:
    """Augmented (normalised image, one-hot target, sample weight) batches of shuffled passes over the data, and the
    steps that make one epoch; the sample weight is the label's class weight."""
    dataset = tf.data.Dataset.from_tensor_slices((pixels, labels, one_hot(labels))).shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
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
