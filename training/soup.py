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

from training.checkpoints import FINE_TUNING, final_weights, states
from training.data import check_same_split

def average_into(classifier: keras.Model, runs: list[Path], split: dict) -> None:
    """Give classifier the mean of the runs' fine-tuned weights (floating-point variables; others are the last run's).

    Raises:
        ValueError: fewer than two runs, one that has not finished fine-tuning, or one trained on another split.
    """
    if len(runs) < 2:
        raise ValueError("--soup averages at least two runs")
    fine_tuned = [final_weights(run, FINE_TUNING) for run in runs]
    for run, weights in zip(runs, fine_tuned):
        check_same_split(Path(run), split, "--soup")
        if not weights.is_file():
            raise ValueError(f"--soup {run} has not finished fine-tuning: it has no {weights}")
    for variable, values in zip(classifier.weights, zip(*states(classifier, fine_tuned))):
        if np.issubdtype(values[0].dtype, np.floating):
            variable.assign(np.mean(values, axis=0))
