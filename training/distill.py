"""Knowledge distillation: an ensemble of finished runs teaches one model of the same size (Hinton et al., 2015).

Averaging the probabilities of a few runs can rank other clinics' melanomas better than any one of them, but an
ensemble multiplies the model's size and latency. Here the runs' averaged, softened probabilities on the training
images become part of the training targets of a single model instead.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from lesion.preprocess import InputSpec, normalise
from training.batches import one_hot
from training.data import check_same_split
from training.evaluate import network_classifier, probabilities_of

log = logging.getLogger(__name__)

TEMPERATURE = 2.0
"""Softens the teachers' probabilities, so that the classes they rank second and third, which say what looks alike,
weigh more in the targets."""


def teacher_probabilities(teachers: list[Path], split: dict, spec: InputSpec, pixels: np.ndarray) -> np.ndarray:
    """The teachers' mean network probabilities (N, 7) for decoded training pixels, softened by TEMPERATURE.

    Args:
        teachers: finished training runs (each with split.json and bundle/), all of the student's split.
        split: the student's split; pixels are the images of split["train"], in order.

    Raises:
        ValueError: a teacher saw another split (its validation or test images could be the student's training
            images), or feeds its network differently.
    """
    images = normalise(pixels.astype(np.float32), spec)
    probabilities = []
    for run in map(Path, teachers):
        check_same_split(run, split, "--teacher")
        classifier = network_classifier(run / "bundle")
        if classifier.spec != spec:
            raise ValueError(f"teacher {run} feeds its network {classifier.spec}, the student {spec}")
        probabilities.append(probabilities_of(classifier, images))
        log.info("teacher %s: mean top probability %.3f on the training images", run, probabilities[-1].max(axis=1).mean())
    return soften(np.mean(probabilities, axis=0), TEMPERATURE)


def soften(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / temperature), row by row."""
    logits = np.log(np.clip(probabilities, 1e-12, 1.0)) / temperature
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def targets(labels: np.ndarray, teacher: np.ndarray | None, weight: float) -> np.ndarray:
    """Training targets (N, 7): one-hot labels, mixed with the teachers' probabilities at this weight when given."""
    labelled = one_hot(labels)
    return labelled if teacher is None else ((1 - weight) * labelled + weight * teacher).astype(np.float32)
