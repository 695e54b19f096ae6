"""What fitting sees: class weights, the sampling plan, and the tf.data batches of training and validation."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lesion.labels import CODES
from lesion.preprocess import InputSpec, normalise
from training import augment

MAX_REPEATS = 4
"""With --site-balance, the most times an image is drawn in an epoch on average; small cells would repeat endlessly."""


def class_weights(labels: np.ndarray, power: float) -> np.ndarray:
    """Loss weight per class: (count of the largest class / count of the class) ** power, normalised to mean 1 per image."""
    counts = np.bincount(labels, minlength=len(CODES)).astype(np.float64)
    weights = (counts.max() / np.maximum(counts, 1)) ** power
    return weights / (weights[labels].mean() if len(labels) else 1.0)


def sampling_plan(labels: np.ndarray, sites: np.ndarray | None, power: float, epoch_images: int) -> dict[tuple, float]:
    """How often to draw from each (site, class) cell of the training split, in proportion; sites may be None.

    Classes are drawn in proportion to count ** power. With sites, every site keeps its share of the draws but gets
    that same class mix (over the classes it has), so that a camera's look no longer predicts the diagnosis; no image
    is drawn more than MAX_REPEATS times an epoch on average, the rest going to the other cells.
    """
    counts = np.bincount(labels, minlength=len(CODES)).astype(np.float64)
    mix = np.where(counts > 0, np.maximum(counts, 1) ** power, 0.0)
    if sites is None:
        return {(None, c): mix[c] / mix.sum() for c in range(len(CODES)) if counts[c]}
    cells = sorted({(site, int(c)) for site, c in zip(sites, labels)})
    size = np.array([np.sum((sites == site) & (labels == c)) for site, c in cells], np.float64)
    site_share = {site: np.mean(sites == site) for site, _ in cells}
    site_mix = {site: sum(mix[c] for s, c in cells if s == site) for site in site_share}
    plan = np.array([site_share[site] * mix[c] / site_mix[site] for site, c in cells])
    cap = MAX_REPEATS * size / epoch_images
    for _ in range(len(cells)):  # move what the caps cut off to the cells still under theirs
        over = plan > cap + 1e-12
        if not over.any():
            break
        excess = (plan[over] - cap[over]).sum()
        plan = np.minimum(plan, cap)
        free = plan < cap - 1e-12
        plan[free] += excess * plan[free] / plan[free].sum()
    return dict(zip(cells, plan / plan.sum()))


def class_prior(plan: dict[tuple, float]) -> np.ndarray:
    """The share of draws of each class under a sampling plan: the prior the logit adjustment removes."""
    prior = np.zeros(len(CODES))
    for (_, c), share in plan.items():
        prior[c] += share
    return prior


def one_hot(labels: np.ndarray) -> np.ndarray:
    """float32 (N, 7) one-hot rows for integer labels: the targets without distillation."""
    return np.eye(len(CODES), dtype=np.float32)[labels]


def training_dataset(pixels, labels, targets, sites, weights, spec: InputSpec, config) -> tuple[tf.data.Dataset, int]:
    """Augmented (normalised image, target, sample weight) batches, and the steps that make one epoch.

    targets are (N, 7) probabilities (one-hot labels, or mixed with teachers'); the sample weight follows the label.

    With --sampling-power 1 and no --site-balance an epoch is one shuffled pass over the data; otherwise each cell of
    sampling_plan is drawn from its own endlessly reshuffled stream.
    """
    seed = config.seed
    if not config.samples:
        dataset = tf.data.Dataset.from_tensor_slices((pixels, labels, targets)).shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
        steps = max(1, len(labels) // config.batch_size)
        return _to_model(dataset.batch(config.batch_size), weights, spec, _augmenter(config)).repeat(), steps
    images = config.epoch_images or len(labels)
    plan = sampling_plan(labels, sites if config.site_balance else None, config.sampling_power, images)
    streams = []
    for index, (site, c) in enumerate(plan):
        members = (labels == c) & ((sites == site) if site is not None else True)
        streams.append(tf.data.Dataset.from_tensor_slices((pixels[members], labels[members], targets[members]))
                       .shuffle(int(members.sum()), seed=seed + index, reshuffle_each_iteration=True).repeat())
    dataset = tf.data.Dataset.sample_from_datasets(streams, weights=list(plan.values()), seed=seed)
    steps = max(1, images // config.batch_size)
    return _to_model(dataset.batch(config.batch_size), weights, spec, _augmenter(config)), steps


def evaluation_dataset(pixels, labels, weights, spec: InputSpec, batch_size: int) -> tf.data.Dataset:
    """(normalised image, one-hot label, sample weight) batches, in order and unaugmented."""
    dataset = tf.data.Dataset.from_tensor_slices((pixels, labels, one_hot(labels)))
    return _to_model(dataset.batch(batch_size), weights, spec, None)


def _augmenter(config):
    """The training batches' augmentation: each image's own (--augmentation), then the batch's mix (--batch-mix)."""
    each = augment.augmenter(config.augmentation, config.seed)
    mix = augment.batch_mixer(config.batch_mix, config.seed)

    def augmenter(images, targets, weights):
        images = each(images)
        return (images, targets, weights) if mix is None else mix(images, targets, weights)

    return augmenter


def _to_model(dataset: tf.data.Dataset, weights, spec: InputSpec, augmenter) -> tf.data.Dataset:
    weight_table = tf.constant(weights, tf.float32)

    def to_model(images, label, target):
        images, weight = tf.cast(images, tf.float32), tf.gather(weight_table, label)
        if augmenter is not None:
            images, target, weight = augmenter(images, target, weight)
        return normalise(images, spec), target, weight

    return dataset.map(to_model, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
