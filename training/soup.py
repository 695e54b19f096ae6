"""A weight soup (Wortsman et al., ICML 2022): the uniform average of the fine-tuned weights of finished runs that
share a split and a network and differ in their training seed.

Two runs of one recipe and one split, differing only in their training seed, can differ on other clinics' images as
much as two splits do. Their average is one model of the same size and speed that carries less of that noise:

    python -m training.train <the runs' own flags> --soup runs/A --soup runs/B --output-dir runs/soup

The soup is not fitted further; it is finalised as any run is (guard, variant, decision rule, calibration, all on
validation).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from training.data import check_same_split

FINE_TUNED = Path("checkpoints") / "2-finetune" / "final.weights.h5"
"""Where a finished run keeps the weights its fine-tuning ended with (training.train.fit)."""


def states(classifier: keras.Model, paths: list[Path]) -> list[list[np.ndarray]]:
    """The classifier's variables as loaded from each weights file in turn (the classifier keeps the last)."""
    loaded = []
    for path in paths:
        classifier.load_weights(path)
        loaded.append([variable.numpy() for variable in classifier.weights])
    return loaded


def average_into(classifier: keras.Model, runs: list[Path], split: dict) -> None:
    """Give classifier the mean of the runs' fine-tuned weights (floating-point variables; others are the last run's).

    Raises:
        ValueError: fewer than two runs, one that has not finished fine-tuning, or one trained on another split.
    """
    if len(runs) < 2:
        raise ValueError("--soup averages at least two runs")
    for run in map(Path, runs):
        check_same_split(run, split, "--soup")
        if not (run / FINE_TUNED).is_file():
            raise ValueError(f"--soup {run} has not finished fine-tuning: it has no {FINE_TUNED}")
    for variable, values in zip(classifier.weights, zip(*states(classifier, [Path(run) / FINE_TUNED for run in runs]))):
        if np.issubdtype(values[0].dtype, np.floating):
            variable.assign(np.mean(values, axis=0))
